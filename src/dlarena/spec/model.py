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

ACTIVATIONS = ("relu", "gelu", "tanh")
INPUT = "input"


@dataclasses.dataclass(frozen=True)
class Layer:
    """One node of the layer graph; `inputs` name earlier layers (or 'input')."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...] = ()  # sorted by name

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
    def from_dict(cls, data: dict[str, Any]) -> Workload:
        """The workload from its canonical dict (`to_dict`), as a worker receives it.

        Trusted input only: what a user writes goes through `spec.schema.parse_spec`, which
        validates it and fills every default."""
        core = ("name", "op", "inputs")
        return cls(
            name=data["name"],
            input_shape=tuple(data["input_shape"]),
            num_classes=data["num_classes"],
            layers=tuple(
                Layer(
                    name=item["name"],
                    op=item["op"],
                    inputs=tuple(item["inputs"]),
                    attrs=tuple(sorted((k, v) for k, v in item.items() if k not in core)),
                )
                for item in data["layers"]
            ),
            optimizer=Optimizer(**data["optimizer"]),
            loss=data["loss"],
            batch_size=data["batch_size"],
            dtype=data["dtype"],
            seed=data["seed"],
        )


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
