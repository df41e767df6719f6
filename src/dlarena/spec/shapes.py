"""Shape inference over a workload's layer graph: every layer's output shape (batch
excluded), the logits' shape and the canonical parameter shapes; a SpecError names the layer
where shapes do not fit."""

from __future__ import annotations

import math
from collections.abc import Callable

from dlarena.errors import SpecError
from dlarena.spec.model import ATTENTION_PARTS, INPUT, Layer, Workload


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
    """Token ids feed embeddings and padding masks only; an embedding reads nothing else."""
    if layer.op == "embedding":
        if not workload.tokens or layer.inputs != (INPUT,):
            raise SpecError(
                f"{where}: an embedding reads the token ids: give the spec a vocab_size and the "
                "layer inputs: [input]"
            )
        return
    if layer.op == "embedding_bag" and layer.inputs != (INPUT,):
        raise SpecError(f"{where}: an embedding bag reads id columns of the input: inputs [input]")
    if layer.op == "attention" and layer.attr("mask") == "padding":
        if not workload.tokens:
            raise SpecError(f"{where}: a padding mask needs token ids: give the spec a vocab_size")
        if len(layer.inputs) != 2 or layer.inputs[1] != INPUT:
            raise SpecError(f"{where}: a padding mask reads the token ids: inputs [x, input]")
        if layer.inputs[0] == INPUT:
            raise SpecError(f"{where}: attention needs embedded tokens; put an embedding first")
        return
    if workload.tokens and INPUT in layer.inputs:
        raise SpecError(
            f"{where}: the input is token ids; only an embedding (or a padding mask) reads them"
        )


Shape = tuple[int, ...]
Rule = Callable[[Layer, list[Shape], str], Shape]


def _output_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    """The layer's output shape from its inputs' (one rule per op; activations, norms and
    dropout keep the shape)."""
    needs = _NEEDS.get(layer.op)
    if needs is not None and len(ins[0]) != needs[0]:
        raise SpecError(f"{where}: {layer.op} needs {needs[1]}, got {ins[0]}")
    rule = _RULES.get(layer.op)
    return ins[0] if rule is None else rule(layer, ins, where)


def _dense(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if len(ins[0]) not in (1, 2):
        raise SpecError(
            f"{where}: dense needs features or a sequence of them, got {ins[0]}; pool it first"
        )
    return (*ins[0][:-1], layer.attr("units"))


def _attention(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if ins[0][-1] % layer.attr("heads"):
        raise SpecError(
            f"{where}: {layer.attr('heads')} heads do not divide {ins[0][-1]} features; choose "
            "heads that divide the width"
        )
    return ins[0]


def _lstm(layer: Layer, ins: list[Shape], where: str) -> Shape:
    units = layer.attr("units")
    return (ins[0][0], units) if layer.attr("sequence") else (units,)


def _reshape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    shape, target = ins[0], tuple(layer.attr("shape"))
    if len(shape) == 3 or len(target) == 3:
        raise SpecError(f"{where}: reshape works on features and sequences; flatten images")
    if math.prod(target) != math.prod(shape):
        raise SpecError(f"{where}: cannot reshape {shape} to {target}: sizes differ")
    return target


def _concat(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if len({s[:-1] for s in ins}) != 1:
        raise SpecError(f"{where}: concat joins the last axis; other axes differ: {ins}")
    return (*ins[0][:-1], sum(s[-1] for s in ins))


def _dot_interaction(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if len(set(ins)) != 1 or len(ins[0]) != 1:
        raise SpecError(f"{where}: dot_interaction needs vectors of one width, got {ins}")
    return (ins[0][0] + len(ins) * (len(ins) - 1) // 2,)


def _tied_logits(layer: Layer, ins: list[Shape], where: str) -> Shape:
    vocab, units = ins[-1]
    if ins[0][-1] != units:
        raise SpecError(
            f"{where}: a head tied to a {units}-wide embedding needs {units} features, "
            f"got {ins[0][-1]}"
        )
    return (*ins[0][:-1], vocab)


def _add(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if ins[0] != ins[1]:
        raise SpecError(f"{where}: add needs equal shapes, got {ins[0]} and {ins[1]}")
    return ins[0]


def _conv2d(layer: Layer, ins: list[Shape], where: str) -> Shape:
    k, s, p = layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
    groups, channels, filters = layer.attr("groups"), ins[0][2], layer.attr("filters")
    if channels % groups or filters % groups:
        raise SpecError(
            f"{where}: groups {groups} must divide the input's {channels} channels and the "
            f"{filters} filters"
        )
    return (*(_window(d + 2 * p, k, s, where) for d in ins[0][:2]), layer.attr("filters"))


def _pool(layer: Layer, ins: list[Shape], where: str) -> Shape:
    k, s = layer.attr("size"), layer.attr("stride")
    p = layer.attr("padding") if layer.op == "max_pool" else 0
    if p > k // 2:
        raise SpecError(f"{where}: padding {p} is more than half the window {k}")
    return (*(_window(d + 2 * p, k, s, where) for d in ins[0][:2]), ins[0][2])


_SEQUENCE = (2, "a sequence (time, features)")
_IMAGE = (3, "an image input (H, W, C)")
# the rank an op's first input must have, and how to say so
_NEEDS: dict[str, tuple[int, str]] = {
    **dict.fromkeys(("layer_norm", "attention", "first_token", "lstm"), _SEQUENCE),
    **dict.fromkeys(("conv2d", "max_pool", "avg_pool", "global_avg_pool"), _IMAGE),
}
_RULES: dict[str, Rule] = {
    "dense": _dense,
    "embedding": lambda layer, ins, where: (*ins[0], layer.attr("units")),
    "attention": _attention,
    "first_token": lambda layer, ins, where: ins[0][1:],
    "lstm": _lstm,
    "slice": lambda layer, ins, where: _columns(layer, ins[0], where),
    "embedding_bag": lambda layer, ins, where: _columns(layer, ins[0], where),
    "flatten": lambda layer, ins, where: (math.prod(ins[0]),),
    "reshape": _reshape,
    "concat": _concat,
    "dot_interaction": _dot_interaction,
    "tied_logits": _tied_logits,
    "add": _add,
    "conv2d": _conv2d,
    "max_pool": _pool,
    "avg_pool": _pool,
    "global_avg_pool": lambda layer, ins, where: (ins[0][2],),
}


def _columns(layer: Layer, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """Columns [start, start + size) of a flat input: features, or the ids of a bag."""
    start, size = layer.attr("start"), layer.attr("size")
    if len(shape) != 1 or start + size > shape[0]:
        raise SpecError(
            f"{where}: columns {start}..{start + size - 1} are not inside the flat input {shape}"
        )
    return (layer.attr("units"),) if layer.op == "embedding_bag" else (size,)


def _window(size: int, kernel: int, stride: int, where: str) -> int:
    if size < kernel:
        raise SpecError(f"{where}: window {kernel} is larger than the input ({size})")
    return (size - kernel) // stride + 1


def logits_shape(workload: Workload) -> tuple[int, ...]:
    """Per sample: (classes,), or (seq, vocab) for a language model."""
    if workload.loss == "token_cross_entropy":
        return (workload.input_shape[0], workload.num_classes)
    return (workload.num_classes,)


Params = list[tuple[str, Shape]]  # (kind, shape) in the canonical order


def _with_bias(layer: Layer, kernel: Shape, out: Shape) -> Params:
    return [("kernel", kernel), *([("bias", (out[-1],))] if layer.attr("bias") else [])]


def _conv2d_params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    k = layer.attr("kernel")
    per_group = ins[-1] // layer.attr("groups")  # each filter sees its group's channels
    return _with_bias(layer, (k, k, per_group, layer.attr("filters")), out)


def _embedding_params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    units = layer.attr("units")
    positions = [("positions", (workload.input_shape[0], units))] if layer.attr("positions") else []
    return [("table", (workload.vocab_size, units)), *positions]


def _lstm_params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    units = layer.attr("units")
    return [("input_kernel", (ins[-1], 4 * units)), ("recurrent_kernel", (units, 4 * units)),
            ("gate_bias", (4 * units,))]  # fmt: skip


def _attention_params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    width, bias = ins[-1], layer.attr("bias")
    return [
        (f"{part}_{kind}", shape)
        for part in ATTENTION_PARTS
        for kind, shape in (("kernel", (width, width)), *((("bias", (width,)),) if bias else ()))
    ]


# Each op's parameters (and batch norm's state), from its first input's and its output's shape;
# an op not here has none
_PARAMS: dict[str, Callable[[Layer, Shape, Shape, Workload], Params]] = {
    "dense": lambda layer, ins, out, w: _with_bias(layer, (ins[-1], layer.attr("units")), out),
    "conv2d": _conv2d_params,
    "batch_norm": lambda layer, ins, out, w: [
        (kind, (ins[-1],)) for kind in ("gamma", "beta", "moving_mean", "moving_var")
    ],
    "layer_norm": lambda layer, ins, out, w: [("gamma", (ins[-1],)), ("beta", (ins[-1],))],
    "embedding_bag": lambda layer, ins, out, w: [
        ("table", (layer.attr("vocab"), layer.attr("units")))
    ],
    "embedding": _embedding_params,
    "lstm": _lstm_params,
    "attention": _attention_params,
}


def parameter_shapes(workload: Workload) -> dict[str, tuple[int, ...]]:
    """Canonical parameter (and batch-norm state) shapes, keyed 'layer.kind'."""
    shapes = infer_shapes(workload)
    params: dict[str, tuple[int, ...]] = {}
    for layer in workload.layers:
        rule = _PARAMS.get(layer.op)
        if rule is not None:
            found = rule(layer, shapes[layer.inputs[0]], shapes[layer.name], workload)
            params.update((f"{layer.name}.{kind}", shape) for kind, shape in found)
    return params


def is_trainable(key: str) -> bool:
    """Batch-norm running statistics are state, not trained parameters."""
    return not key.endswith((".moving_mean", ".moving_var"))
