"""Shape inference over a workload's layer graph: every layer's output shape (batch
excluded), the logits' shape and the canonical parameter shapes; a SpecError names the layer
where shapes do not fit."""

from __future__ import annotations

from dlarena.errors import SpecError
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.ops import OPS
from dlarena.spec.ops.base import Shape


def infer_shapes(workload: Workload) -> dict[str, tuple[int, ...]]:
    """Output shape (batch excluded) of every layer; raises SpecError where shapes don't fit."""
    shapes: dict[str, tuple[int, ...]] = {INPUT: workload.input_shape}
    for index, layer in enumerate(workload.layers):
        where = f"spec.layers[{index}] '{layer.name}'"
        _check_token_use(workload, layer, where)
        ins = [shapes[name] for name in layer.inputs]
        if layer.op == "tied_logits":
            ins.append(_tied_table(workload, layer, shapes, where))
        shapes[layer.name] = _output_shape(layer, ins, where)
    return shapes


def _tied_table(
    workload: Workload, layer: Layer, shapes: dict[str, tuple[int, ...]], where: str
) -> tuple[int, ...]:
    """The (vocab, units) table a tied head multiplies by: an earlier embedding's."""
    source = layer.attr("embedding")
    found = [e for e in workload.layers if e.name == source and e.op == "embedding"]
    if not found or source not in shapes:
        raise SpecError(f"{where}: embedding '{source}' is not an earlier embedding layer")
    return (workload.vocab_size, found[0].attr("units"))


def _check_token_use(workload: Workload, layer: Layer, where: str) -> None:
    """Token ids feed embeddings and padding masks only (an op's own rule says how it reads
    them)."""
    rule = OPS[layer.op].reads_input
    if rule is not None and rule(workload, layer, where):
        return
    if workload.tokens and INPUT in layer.inputs:
        raise SpecError(
            f"{where}: the input is token ids; only an embedding (or a padding mask) reads them"
        )


def _output_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    """The layer's output shape from its inputs' (activations, norms and dropout keep it)."""
    op = OPS[layer.op]
    if op.needs is not None and len(ins[0]) != op.needs[0]:
        raise SpecError(f"{where}: {layer.op} needs {op.needs[1]}, got {ins[0]}")
    return ins[0] if op.shape is None else op.shape(layer, ins, where)


def logits_shape(workload: Workload) -> tuple[int, ...]:
    """Per sample: (classes,), or (seq, vocab) for a language model."""
    if workload.loss == "token_cross_entropy":
        return (workload.input_shape[0], workload.num_classes)
    return (workload.num_classes,)


def parameter_shapes(workload: Workload) -> dict[str, tuple[int, ...]]:
    """Canonical parameter (and batch-norm state) shapes, keyed 'layer.kind'."""
    shapes = infer_shapes(workload)
    params: dict[str, tuple[int, ...]] = {}
    for layer in workload.layers:
        rule = OPS[layer.op].params
        if rule is not None:
            found = rule(layer, shapes[layer.inputs[0]], shapes[layer.name], workload)
            params.update((f"{layer.name}.{kind}", shape) for kind, shape in found)
    return params


def is_trainable(key: str) -> bool:
    """Batch-norm running statistics are state, not trained parameters."""
    return not key.endswith((".moving_mean", ".moving_var"))
