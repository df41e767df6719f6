"""Workload spec records, their validation and shape inference.

Canonical layouts (every adapter converts from these): images NHWC, dense kernels (in, out),
conv kernels (kh, kw, in, out). Batch-norm `momentum` is the fraction of the running statistic
kept at each update (Keras, Flax and MXNet convention; PyTorch uses 1 - momentum).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from dlarena.errors import SpecError

# Per op: the attributes it accepts, with their type and default.
OP_ATTRS: dict[str, dict[str, tuple[type, Any]]] = {
    "dense": {"units": (int, None), "bias": (bool, True)},
    "relu": {},
    "gelu": {},
    "tanh": {},
    "conv2d": {
        "filters": (int, None),
        "kernel": (int, 3),
        "stride": (int, 1),
        "padding": (int, 0),
        "bias": (bool, False),
    },
    "batch_norm": {"epsilon": (float, 1e-5), "momentum": (float, 0.9)},
    "max_pool": {"size": (int, 2), "stride": (int, 2)},
    "avg_pool": {"size": (int, 2), "stride": (int, 2)},
    "add": {},
    "global_avg_pool": {},
}
ACTIVATIONS = ("relu", "gelu", "tanh")
LOSSES = ("softmax_cross_entropy",)
OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32",)
INPUT = "input"


@dataclasses.dataclass(frozen=True)
class Layer:
    """One node of the layer graph; `inputs` name earlier layers (or 'input')."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...] = ()

    def attr(self, key: str) -> Any:
        return dict(self.attrs)[key]


@dataclasses.dataclass(frozen=True)
class Optimizer:
    name: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8


@dataclasses.dataclass(frozen=True)
class Workload:
    """A model, its data shape, loss, optimizer and batch: everything a framework must build."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    layers: tuple[Layer, ...]
    optimizer: Optimizer = Optimizer()
    loss: str = "softmax_cross_entropy"
    batch_size: int = 32
    dtype: str = "float32"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [
                {"name": lay.name, "op": lay.op, "inputs": list(lay.inputs), **dict(lay.attrs)}
                for lay in self.layers
            ],
            "optimizer": dataclasses.asdict(self.optimizer),
            "loss": self.loss,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "seed": self.seed,
        }

    def canonical_json(self) -> str:
        """The spec as canonical JSON (sorted keys, no spaces): what a stored cell keeps."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON, shortened: names the spec whatever its `name` says."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any) -> Workload:
        """Validate a parsed spec; a bad field raises SpecError naming it and what is allowed."""
        _require_mapping(data, "spec")
        known = {f.name for f in dataclasses.fields(cls)}
        _reject_unknown(data, known, "spec")
        for key in ("name", "input_shape", "num_classes", "layers"):
            if key not in data:
                raise SpecError(f"spec: missing field '{key}'; add it (see 'dlarena bench --help')")
        workload = cls(
            name=_typed(data, "name", str, "spec"),
            input_shape=_shape(data["input_shape"]),
            num_classes=_positive(data, "num_classes", "spec"),
            layers=_layers(data["layers"]),
            optimizer=_optimizer(data.get("optimizer", {})),
            loss=_choice(data.get("loss", "softmax_cross_entropy"), LOSSES, "spec.loss"),
            batch_size=_positive(data, "batch_size", "spec", default=32),
            dtype=_choice(data.get("dtype", "float32"), DTYPES, "spec.dtype"),
            seed=_typed(data, "seed", int, "spec", default=0),
        )
        output = infer_shapes(workload)[workload.layers[-1].name]
        if output != (workload.num_classes,):
            raise SpecError(
                f"spec: the last layer '{workload.layers[-1].name}' gives shape {output}; "
                f"it must give the logits, shape ({workload.num_classes},): end with a dense layer"
            )
        return workload


def _require_mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")


def _reject_unknown(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(
            f"{where}: unknown field '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}"
        )


def _typed(data: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = data.get(key, default)
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise SpecError(f"{where}.{key}: {value!r} is not a {kind.__name__}")
    return value


def _positive(data: dict[str, Any], key: str, where: str, default: Any = None) -> int:
    value = _typed(data, key, int, where, default)
    if value <= 0:
        raise SpecError(f"{where}.{key}: {value!r} must be a positive integer")
    return int(value)


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise SpecError(f"{where}: {value!r} is not supported; allowed: {', '.join(allowed)}")
    return str(value)


def _shape(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list | tuple) and len(value) in (1, 3)
    if not ok or not all(isinstance(v, int) and v > 0 for v in value):
        raise SpecError(
            f"spec.input_shape: {value!r} is not valid; give [features] or [height, width, "
            "channels] (NHWC, batch excluded), positive integers"
        )
    return tuple(value)


def _optimizer(data: Any) -> Optimizer:
    _require_mapping(data, "spec.optimizer")
    _reject_unknown(data, {f.name for f in dataclasses.fields(Optimizer)}, "spec.optimizer")
    name = _choice(data.get("name", "sgd"), OPTIMIZERS, "spec.optimizer.name")
    floats = {
        f.name: _typed(data, f.name, float, "spec.optimizer", f.default)
        for f in dataclasses.fields(Optimizer)
        if f.name != "name"
    }
    if floats["learning_rate"] <= 0:
        raise SpecError(f"spec.optimizer.learning_rate: {floats['learning_rate']} must be > 0")
    return Optimizer(name=name, **floats)


def _layers(items: Any) -> tuple[Layer, ...]:
    if not isinstance(items, list) or not items:
        raise SpecError("spec.layers: expected a non-empty list of layers")
    layers: list[Layer] = []
    for index, item in enumerate(items):
        previous = layers[-1].name if layers else INPUT
        layers.append(_layer(item, index, previous, {lay.name for lay in layers}))
    return tuple(layers)


def _layer(item: Any, index: int, previous: str, defined: set[str]) -> Layer:
    where = f"spec.layers[{index}]"
    _require_mapping(item, where)
    op = _choice(item.get("op"), tuple(OP_ATTRS), f"{where}.op")
    schema = OP_ATTRS[op]
    _reject_unknown(item, {"name", "op", "inputs", *schema}, where)
    name = _typed(item, "name", str, where, default=f"{op}{index}")
    if name in defined or name == INPUT:
        raise SpecError(f"{where}.name: '{name}' is used twice; give each layer its own name")
    inputs = tuple(item.get("inputs", [previous]))
    for source in inputs:
        if source != INPUT and source not in defined:
            raise SpecError(
                f"{where}.inputs: '{source}' is not an earlier layer; "
                f"known: {', '.join([INPUT, *sorted(defined)])}"
            )
    if (op == "add") != (len(inputs) == 2):
        raise SpecError(f"{where}.inputs: {op} takes {'two inputs' if op == 'add' else 'one'}")
    attrs = []
    for key, (kind, default) in schema.items():
        if default is None and key not in item:
            raise SpecError(f"{where}: {op} needs '{key}'")
        value = _typed(item, key, kind, where, default)
        if kind is int and value < (0 if key == "padding" else 1):
            raise SpecError(f"{where}.{key}: {value} is out of range")
        attrs.append((key, value))
    return Layer(name=name, op=op, inputs=inputs, attrs=tuple(attrs))


def infer_shapes(workload: Workload) -> dict[str, tuple[int, ...]]:
    """Output shape (batch excluded) of every layer; raises SpecError where shapes don't fit."""
    shapes: dict[str, tuple[int, ...]] = {INPUT: workload.input_shape}
    for index, layer in enumerate(workload.layers):
        ins = [shapes[name] for name in layer.inputs]
        shapes[layer.name] = _output_shape(layer, ins, f"spec.layers[{index}] '{layer.name}'")
    return shapes


def _output_shape(layer: Layer, ins: list[tuple[int, ...]], where: str) -> tuple[int, ...]:
    shape = ins[0]
    if layer.op == "dense":
        if len(shape) != 1:
            raise SpecError(f"{where}: dense needs a flat input, got {shape}; pool it first")
        return (layer.attr("units"),)
    if layer.op == "add":
        if ins[0] != ins[1]:
            raise SpecError(f"{where}: add needs equal shapes, got {ins[0]} and {ins[1]}")
        return shape
    if layer.op in ("conv2d", "max_pool", "avg_pool", "global_avg_pool") and len(shape) != 3:
        raise SpecError(f"{where}: {layer.op} needs an image input (H, W, C), got {shape}")
    if layer.op == "conv2d":
        k, s, p = layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
        return (*(_window(d + 2 * p, k, s, where) for d in shape[:2]), layer.attr("filters"))
    if layer.op in ("max_pool", "avg_pool"):
        k, s = layer.attr("size"), layer.attr("stride")
        return (*(_window(d, k, s, where) for d in shape[:2]), shape[2])
    if layer.op == "global_avg_pool":
        return (shape[2],)
    return shape  # activations and batch_norm keep the shape


def _window(size: int, kernel: int, stride: int, where: str) -> int:
    if size < kernel:
        raise SpecError(f"{where}: window {kernel} is larger than the input ({size})")
    return (size - kernel) // stride + 1


def parameter_shapes(workload: Workload) -> dict[str, tuple[int, ...]]:
    """Canonical parameter (and batch-norm state) shapes, keyed 'layer.kind'."""
    shapes = infer_shapes(workload)
    params: dict[str, tuple[int, ...]] = {}
    for layer in workload.layers:
        channels = shapes[layer.inputs[0]][-1]
        if layer.op == "dense":
            params[f"{layer.name}.kernel"] = (channels, layer.attr("units"))
        elif layer.op == "conv2d":
            k = layer.attr("kernel")
            params[f"{layer.name}.kernel"] = (k, k, channels, layer.attr("filters"))
        elif layer.op == "batch_norm":
            for kind in ("gamma", "beta", "moving_mean", "moving_var"):
                params[f"{layer.name}.{kind}"] = (channels,)
        if layer.op in ("dense", "conv2d") and layer.attr("bias"):
            params[f"{layer.name}.bias"] = (shapes[layer.name][-1],)
    return params


def is_trainable(key: str) -> bool:
    """Batch-norm running statistics are state, not trained parameters."""
    return not key.endswith((".moving_mean", ".moving_var"))
