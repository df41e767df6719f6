"""What a workload spec file may say (pydantic models, host side), and the graph checks that
follow: every layer's inputs exist, shapes agree, the model ends in the logits, and its size is
bounded before anything is allocated."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, StringConstraints, create_model, model_validator

from dlarena.errors import SpecError
from dlarena.spec.model import (
    INPUT,
    FileRef,
    Layer,
    Optimizer,
    SourceRef,
    Workload,
)
from dlarena.spec.ops import MANY, OPS
from dlarena.spec.shapes import infer_shapes, logits_shape, parameter_shapes
from dlarena.validation import Document, Fraction, Identifier, Name, Strict, validate

Count = Annotated[int, Field(ge=1, le=1_000_000)]
Window = Annotated[int, Field(ge=1, le=1024)]
Epsilon = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
# The type of each attribute kind an op declares (spec/ops/base.py: Attr)
KINDS: dict[str, Any] = {
    "count": Count,
    "window": Window,
    "padding": Annotated[int, Field(ge=0, le=1024)],
    "epsilon": Epsilon,
    "fraction": Fraction,
    "bool": bool,
    "identifier": Identifier,
    "factor": Annotated[float, Field(gt=-1e6, lt=1e6, allow_inf_nan=False)],
    "offset": Annotated[int, Field(ge=0, le=1_000_000)],
    "dims": Annotated[list[Count], Field(min_length=1, max_length=3)],
}


def _attr_type(kind: str | tuple[str, ...]) -> Any:
    return Literal[kind] if isinstance(kind, tuple) else KINDS[kind]


# Per op: each attribute's type and default (... = required).
OP_ATTRS: dict[str, dict[str, tuple[Any, Any]]] = {
    name: {key: (_attr_type(kind), default) for key, (kind, default) in op.attrs.items()}
    for name, op in OPS.items()
}
# Bounds that stop a spec from asking for memory no machine has, before any allocation.
MAX_PARAMETERS = 500_000_000  # 2 GB of float32 weights (the float64 reference doubles it)
MAX_BATCH_VALUES = 1 << 31  # every layer's output for one batch, summed: 8 GiB of float32


def _layer_model(op: str) -> Any:
    fields: dict[str, Any] = {
        "name": (Identifier | None, None),
        "op": (Literal[op], ...),  # type: ignore[valid-type]
        "inputs": (Annotated[list[Identifier], Field(min_length=1, max_length=64)] | None, None),
    }
    fields.update(OP_ATTRS[op])
    return create_model(f"{op}_layer", __base__=Strict, **fields)


LAYER_MODELS = {op: _layer_model(op) for op in OP_ATTRS}
# A layer is one of the op models, chosen by its `op` (an unknown op names every known one).
LayerDoc = Annotated[Union[tuple(LAYER_MODELS.values())], Field(discriminator="op")]  # type: ignore[valid-type]  # noqa: UP007, E501


class OptimizerDoc(Strict):
    name: Literal["sgd", "adam", "adamw"] = "sgd"
    learning_rate: Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)] = 0.01
    momentum: Fraction = 0.9
    beta1: Fraction = 0.9
    beta2: Fraction = 0.999
    epsilon: Epsilon = 1e-8
    weight_decay: Fraction = 0.0
    schedule: Literal["constant", "warmup_cosine"] = "constant"
    warmup_steps: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    decay_steps: Annotated[int, Field(ge=0, le=10_000_000)] = 0

    @model_validator(mode="after")
    def _consistent(self) -> OptimizerDoc:
        if self.weight_decay and self.name != "adamw":
            raise ValueError(
                f"weight_decay is adamw's (decoupled); {self.name} takes none: use name: adamw"
            )
        if self.schedule == "warmup_cosine" and self.decay_steps <= self.warmup_steps:
            raise ValueError(
                f"warmup_cosine needs decay_steps (the steps to the end of the decay, warm-up "
                f"included) above warmup_steps ({self.warmup_steps}); got {self.decay_steps}"
            )
        if self.schedule == "constant" and (self.warmup_steps or self.decay_steps):
            raise ValueError("warmup_steps and decay_steps need schedule: warmup_cosine")
        return self


class FileRefDoc(Strict):
    """A file the spec depends on (relative to the spec's folder) and its sha256."""

    file: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class SourceDoc(FileRefDoc):
    """The model file the spec was imported from, and what it outputs: the logits, or their
    softmax or log-softmax (the check against the file applies the same to the logits)."""

    output: Literal["logits", "softmax", "log_softmax"] = "logits"


class SpecDoc(Strict):
    """A workload spec file (YAML or JSON)."""

    name: Name
    input_shape: Annotated[list[Count], Field(min_length=1, max_length=3)]
    num_classes: Count
    layers: Annotated[list[LayerDoc], Field(min_length=1, max_length=1000)]  # type: ignore[valid-type]
    optimizer: OptimizerDoc = OptimizerDoc()
    loss: Literal["softmax_cross_entropy", "token_cross_entropy"] = "softmax_cross_entropy"
    batch_size: Annotated[int, Field(ge=1, le=65536)] = 32
    dtype: Literal["float32"] = "float32"
    # the compute: float32, or bfloat16 / float16 over float32 parameters (mixed precision)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    vocab_size: Count | None = None  # set: the input is token ids, input_shape [sequence]
    # imported models: their own weights (.npz of canonical arrays) and the original file
    weights: FileRefDoc | None = None
    source: SourceDoc | None = None

    @model_validator(mode="after")
    def _image_or_flat(self) -> SpecDoc:
        if self.vocab_size is not None and len(self.input_shape) != 1:
            raise ValueError(
                f"input_shape of token ids must be [sequence length], got {self.input_shape}"
            )
        if self.loss == "token_cross_entropy" and self.vocab_size != self.num_classes:
            raise ValueError(
                "token_cross_entropy predicts the next token: num_classes must equal vocab_size"
            )
        if len(self.input_shape) == 2:
            raise ValueError(
                "input_shape must be [features] or [height, width, channels] (NHWC, batch "
                f"excluded), got {self.input_shape}"
            )
        return self


def spec_from_dict(data: Any, origin: str = "spec") -> Workload:
    """A validated workload from an already parsed mapping (JSON from an API, a test)."""
    return parse_spec(Document(data, origin, {}))


def parse_spec(doc: Document) -> Workload:
    """A validated workload from a parsed spec document, or one SpecError naming the problem."""
    spec = validate(SpecDoc, doc, "workload spec", SpecError)
    layers: list[Layer] = []
    for index, item in enumerate(spec.layers):
        try:
            layers.append(_layer(item, index, layers))
        except SpecError as exc:
            raise _located(doc, exc) from None
    workload = Workload(
        name=spec.name,
        input_shape=tuple(spec.input_shape),
        num_classes=spec.num_classes,
        layers=tuple(layers),
        optimizer=Optimizer(**spec.optimizer.model_dump()),
        loss=spec.loss,
        batch_size=spec.batch_size,
        dtype=spec.dtype,
        precision=spec.precision,
        seed=spec.seed,
        vocab_size=spec.vocab_size or 0,
        weights=FileRef(**spec.weights.model_dump()) if spec.weights else None,
        source=SourceRef(**spec.source.model_dump()) if spec.source else None,
    )
    try:
        check_graph(workload)
    except SpecError as exc:
        raise _located(doc, exc) from None
    return workload


def _located(doc: Document, exc: SpecError) -> SpecError:
    """The error with the file (or built-in) it came from and the line of the layer it names."""
    found = re.search(r"layers\[(\d+)\]", str(exc))
    line = doc.line(("layers", int(found.group(1)))) if found else None
    return SpecError(f"{doc.origin}: {f'line {line}: ' if line else ''}{exc}")


def _layer(item: Any, index: int, earlier: list[Layer]) -> Layer:
    where = f"layers[{index}]"
    defined = {layer.name for layer in earlier}
    name = item.name or f"{item.op}{index}"
    if name in defined or name == INPUT:
        raise SpecError(f"{where}.name: '{name}' is used twice; give each layer its own name")
    op = OPS[item.op]
    implied = op.implied(lambda key: getattr(item, key)) if op.implied else ()
    inputs = tuple(item.inputs or [earlier[-1].name if earlier else INPUT])
    if implied and len(inputs) == op.inputs:
        inputs += implied
    for source in inputs:
        if source != INPUT and source not in defined:
            raise SpecError(
                f"{where}.inputs: '{source}' is not an earlier layer; "
                f"known: {', '.join([INPUT, *sorted(defined)])}"
            )
    wanted = op.inputs
    if wanted == MANY:
        if len(inputs) < 2:
            raise SpecError(f"{where}.inputs: {item.op} takes two or more")
    else:
        wanted += len(implied)
        if len(inputs) != wanted:
            raise SpecError(f"{where}.inputs: {item.op} takes {'two' if wanted == 2 else 'one'}")
    attrs = tuple(sorted((key, _frozen(getattr(item, key))) for key in OP_ATTRS[item.op]))
    return Layer(name=name, op=item.op, inputs=inputs, attrs=attrs)


def _frozen(value: Any) -> Any:
    """Attribute values stay hashable (a reshape's target shape is a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def check_graph(workload: Workload) -> None:
    """Shapes agree, the last layer gives the logits, and the model fits in memory."""
    shapes = infer_shapes(workload)
    last = workload.layers[-1].name
    logits = logits_shape(workload)
    if shapes[last] != logits:
        raise SpecError(
            f"the last layer '{last}' gives shape {shapes[last]}; it must give the logits, "
            f"shape {logits}: end with a dense layer"
        )
    parameters = sum(math.prod(s) for s in parameter_shapes(workload).values())
    if parameters > MAX_PARAMETERS:
        raise SpecError(
            f"{parameters:,} parameters; dlarena runs models of up to {MAX_PARAMETERS:,}"
        )
    values = workload.batch_size * sum(math.prod(s) for s in shapes.values())
    if values > MAX_BATCH_VALUES:
        raise SpecError(
            f"batch_size {workload.batch_size} needs {values:,} activation values per step; "
            f"at most {MAX_BATCH_VALUES:,}: lower the batch size"
        )
