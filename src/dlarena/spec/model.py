"""Workload spec records, their validation and shape inference.

Canonical layouts (every adapter converts from these): images NHWC, dense kernels (in, out),
conv kernels (kh, kw, in, out), sequences (batch, time, features). Batch-norm `momentum` is the
fraction of the running statistic kept at each update (Keras, Flax and MXNet convention; PyTorch
uses 1 - momentum).

A workload with a `vocab_size` reads token ids (int32, 0 is padding) of shape (batch, seq) and
starts with an embedding. With the loss `token_cross_entropy` (language modelling) the labels
are the next token at every position, shape (batch, seq), and the logits (batch, seq, vocab).

Attention's projections are four (D, D) kernels, q/k/v/o, with the heads the column blocks in
order: head h owns columns h*D/H .. (h+1)*D/H of q, k and v, and rows
of the same span of o. A padding mask reads the token ids: its layer takes them as a second
input ('input'), so the graph says where the mask comes from.

An LSTM's canonical weights are `input_kernel` (in, 4H), `recurrent_kernel` (H, 4H) and one
`gate_bias` (4H), the gates in the order i, f, g, o (input, forget, cell candidate, output), and
it starts from zero state. Token ids are padded only where a padding mask reads them.

A workload imported from a model file (`dlarena import`) carries its own weights: `weights`
names an .npz of canonical arrays (keys 'layer.kind', as `parameter_shapes`) and its sha256,
`source` the original file; without them every framework starts from the seeded weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

ATTENTION_PARTS = ("q", "k", "v", "o")  # query, key, value and output projections
# gelu: the exact (erf) form
ACTIVATIONS = ("relu", "relu6", "gelu", "gelu_tanh", "tanh", "sigmoid")
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


SCHEDULES = ("constant", "warmup_cosine")


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """sgd (PyTorch's momentum form: v = momentum v + g, p -= lr v), adam, or adamw (Adam with
    decoupled weight decay: p -= lr (adam step + weight_decay p)); the learning rate constant,
    or warmup_cosine (`learning_rate_at`)."""

    name: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 0.0  # adamw's
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_steps: int = 0  # warmup_cosine: the steps to the end of the decay, warm-up included

    def as_dict(self) -> dict[str, Any]:
        """Every field, less the later ones at their defaults (earlier specs keep their hash)."""
        found = dataclasses.asdict(self)
        return {
            k: v for k, v in found.items() if k not in LATER_OPTIMIZER or v != LATER_OPTIMIZER[k]
        }

    def learning_rate_at(self, step: Any, xp: Any) -> Any:
        """The rate of update `step` (0 for the first), as Optax's warmup_cosine_decay_schedule
        and Keras's CosineDecay with warm-up give it: linear from 0 over the warm-up steps (the
        first update moves nothing but the optimizer's moments), then a cosine to 0 at
        decay_steps, and 0 after. `xp`: the array namespace of `step` (numpy, jax.numpy,
        tensorflow.experimental.numpy), so each framework computes it on its own step."""
        if self.schedule == "constant":
            return self.learning_rate
        peak, warm = self.learning_rate, self.warmup_steps
        span = self.decay_steps - warm
        done = xp.minimum(xp.maximum(step - warm, 0.0) / span, 1.0)
        decayed = peak * 0.5 * (1.0 + xp.cos(math.pi * done))
        return xp.where(step < warm, peak * step / max(warm, 1), decayed)


LATER_OPTIMIZER = {"weight_decay": 0.0, "schedule": "constant", "warmup_steps": 0, "decay_steps": 0}


@dataclasses.dataclass(frozen=True)
class FileRef:
    """A file a spec depends on, with its sha256 (a file that does not match is an error)."""

    file: str
    sha256: str


# What an imported model's original file outputs: its logits, or the softmax or log-softmax of
# them (a classifier that ends in Softmax: the spec ends in the logits, as its loss expects).
OUTPUTS = ("logits", "softmax", "log_softmax")


@dataclasses.dataclass(frozen=True)
class SourceRef(FileRef):
    """The model file a spec was imported from, and what its output is."""

    output: str = "logits"

    def as_dict(self) -> dict[str, str]:
        """file and sha256, and output only where not the logits (earlier specs keep their
        hash)."""
        data = dataclasses.asdict(self)
        if self.output == "logits":
            del data["output"]
        return data


# The compute precisions: float32, or mixed precision over float32 parameters and optimizer
# state (bfloat16 on CPUs and GPUs; float16 with loss scaling, a GPU path)
PRECISIONS = ("fp32", "bf16", "fp16")


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
    dtype: str = "float32"  # of the parameters, the optimizer's state and the data
    precision: str = "fp32"  # the compute: fp32, or mixed (PRECISIONS) over float32 parameters
    seed: int = 0
    vocab_size: int = 0  # > 0: the input is token ids in [0, vocab_size), 0 the padding id
    weights: FileRef | None = None  # imported weights (absolute path once loaded)
    source: SourceRef | None = None  # the model file they were imported from (its path, once
    # loaded, where it exists: the parity gate then also checks against it)

    @property
    def tokens(self) -> bool:
        return self.vocab_size > 0

    @property
    def has_dropout(self) -> bool:
        return any(layer.op == "dropout" and layer.attr("rate") > 0 for layer in self.layers)

    def parity_twin(self) -> Workload:
        """The same model with every dropout rate 0: what the parity gate checks (a framework's
        random masks can never agree with the reference's), while timed steps drop."""
        layers = tuple(
            dataclasses.replace(layer, attrs=(("rate", 0.0),)) if layer.op == "dropout" else layer
            for layer in self.layers
        )
        return dataclasses.replace(self, layers=layers)

    def at_precision(self, precision: str) -> Workload:
        """The same model computed at `precision` (float32 parameters, `precision` compute),
        named apart ('mlp-bf16') so its cells sit beside the float32 ones in one run."""
        if precision == self.precision:
            return self
        base = self.name.removesuffix(f"-{self.precision}")
        name = base if precision == "fp32" else f"{base}-{precision}"
        return dataclasses.replace(self, precision=precision, name=name)

    def to_dict(self) -> dict[str, Any]:
        # vocab_size, weights and source only where set: every earlier spec keeps its hash
        extra: dict[str, Any] = {"vocab_size": self.vocab_size} if self.tokens else {}
        if self.precision != "fp32":
            extra["precision"] = self.precision
        if self.weights is not None:
            extra["weights"] = dataclasses.asdict(self.weights)
        if self.source is not None:
            extra["source"] = self.source.as_dict()
        return {
            **extra,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [
                {
                    "name": lay.name,
                    "op": lay.op,
                    "inputs": list(lay.inputs),
                    **_plain(lay.op, lay.attrs),
                }
                for lay in self.layers
            ],
            "optimizer": self.optimizer.as_dict(),
            "loss": self.loss,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "seed": self.seed,
        }

    def canonical_json(self) -> str:
        """The spec as canonical JSON (sorted keys, no spaces): what a stored cell keeps. The
        weights are named by their sha256 alone: moving the files keeps the hash."""
        data = self.to_dict()
        if self.weights is not None:
            data["weights"] = {"sha256": self.weights.sha256}
        if self.source is not None:
            name = self.source.file.rsplit("/", 1)[-1]  # the file's name, wherever it lies
            data["source"] = {**self.source.as_dict(), "file": name}
        return _canonical(data)

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON, shortened: names the spec whatever its `name` says."""
        return _hash(self.canonical_json())

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
                    attrs=_attrs(item, core),
                )
                for item in data["layers"]
            ),
            optimizer=Optimizer(**data["optimizer"]),
            loss=data["loss"],
            batch_size=data["batch_size"],
            dtype=data["dtype"],
            seed=data["seed"],
            vocab_size=data.get("vocab_size", 0),
            precision=data.get("precision", "fp32"),
            weights=FileRef(**data["weights"]) if "weights" in data else None,
            source=SourceRef(**data["source"]) if "source" in data else None,
        )


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def precision_of(canonical: str) -> tuple[str, str]:
    """From a stored cell's canonical JSON: its compute precision, and the content hash of the
    same spec in float32 (what `at_precision("fp32")` would give)."""
    data = json.loads(canonical)
    precision = data.pop("precision", "fp32")
    data["name"] = data["name"].removesuffix(f"-{precision}")
    return precision, _hash(_canonical(data))


# Attributes added after specs were first stored, with their defaults: written into the
# canonical JSON only when set, so every earlier spec keeps its content hash.
LATER_ATTRS = {("max_pool", "padding"): 0, ("conv2d", "groups"): 1}


def _plain(op: str, attrs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in attrs
        if LATER_ATTRS.get((op, k), object()) != v
    }


def _attrs(item: dict[str, Any], core: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """A canonical layer dict's attributes, sorted, with later attributes' defaults filled."""
    found = {k: tuple(v) if isinstance(v, list) else v for k, v in item.items() if k not in core}
    for (op, key), default in LATER_ATTRS.items():
        if item["op"] == op:
            found.setdefault(key, default)
    return tuple(sorted(found.items()))
