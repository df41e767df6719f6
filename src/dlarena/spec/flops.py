"""Floating-point operations of a workload, per layer, from the spec alone (stdlib only).

Conventions (those of most published FLOP counts): a multiply-add is 2 FLOPs; elementwise ops
(activations, batch-norm's scale and shift, additions, pooling comparisons) count 1 per element
they read; layer norm 5 per element (mean and variance sums, normalize, scale, shift); attention
is its four projections, 2 T^2 D for the scores and again for the weighted values, and 3 per
score for the softmax (max, exp, divide); an embedding lookup is free and its position add 1 per
element; taking the first token is free; an LSTM step is its two matmuls and the bias over
the four gates plus 10 per unit (three sigmoids, two tanh, three products, a sum); slicing,
concatenating and reshaping are free; an embedding bag of L rows costs its (L - 1) D sums, a
dot interaction of F vectors its F (F - 1) / 2 dot products.

A training step is 3x the forward pass (the backward pass computes the gradient of both the
inputs and the weights, each as costly as the forward) plus 4 per parameter for the optimizer's
update.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dlarena.spec.model import Layer, Workload
from dlarena.spec.shapes import infer_shapes, parameter_shapes

OPTIMIZER_FLOPS_PER_PARAMETER = 4


Shape = tuple[int, ...]


def _dense(layer: Layer, ins: Shape, out: Shape) -> int:
    return math.prod(out) * (2 * ins[-1] + (1 if layer.attr("bias") else 0))


def _conv2d(layer: Layer, ins: Shape, out: Shape) -> int:
    k = layer.attr("kernel")
    seen = ins[-1] // layer.attr("groups")  # the channels each output value sums over
    return math.prod(out) * (2 * k * k * seen + (1 if layer.attr("bias") else 0))


def _lstm(layer: Layer, ins: Shape, out: Shape) -> int:
    """Per step: both matmuls and the bias, then ~10 per unit for the gates."""
    seq, units = ins[0], layer.attr("units")
    return seq * (4 * units * (2 * ins[-1] + 2 * units + 1) + 10 * units)


def _attention(layer: Layer, ins: Shape, out: Shape) -> int:
    seq, width = ins
    projections = 4 * seq * (2 * width * width + (width if layer.attr("bias") else 0))
    return projections + 4 * seq * seq * width + 3 * layer.attr("heads") * seq * seq


def _free(layer: Layer, ins: Shape, out: Shape) -> int:
    return 0


# Forward FLOPs per sample, by op (the module docstring's conventions); an op not here counts one
# per input element (activations, add, global average pooling)
_FLOPS: dict[str, Callable[[Layer, Shape, Shape], int]] = {
    "dense": _dense,
    "tied_logits": lambda layer, ins, out: math.prod(out) * 2 * ins[-1],
    "conv2d": _conv2d,
    "max_pool": lambda layer, ins, out: math.prod(out) * layer.attr("size") ** 2,
    "avg_pool": lambda layer, ins, out: math.prod(out) * layer.attr("size") ** 2,
    "batch_norm": lambda layer, ins, out: 2 * math.prod(ins),
    "layer_norm": lambda layer, ins, out: 5 * math.prod(ins),
    "embedding": lambda layer, ins, out: math.prod(out) if layer.attr("positions") else 0,
    # data movement; dropout is the identity in inference (a training step's mask multiply is
    # not counted)
    **dict.fromkeys(("first_token", "slice", "concat", "flatten", "reshape", "dropout"), _free),
    # the lookups are free; summing a bag of L rows: (L-1) D
    "embedding_bag": lambda layer, ins, out: (layer.attr("size") - 1) * layer.attr("units"),
    "lstm": _lstm,
    "attention": _attention,
}


def layer_flops(layer: Layer, in_shape: Shape, out_shape: Shape) -> int:
    """Forward FLOPs of one layer for one sample."""
    rule = _FLOPS.get(layer.op)
    return math.prod(in_shape) if rule is None else rule(layer, in_shape, out_shape)


def forward_flops(workload: Workload) -> dict[str, int]:
    """Layer name -> forward FLOPs per sample."""
    shapes = infer_shapes(workload)
    counts = {}
    for layer in workload.layers:
        if layer.op == "dot_interaction":  # F(F-1)/2 dot products of width D
            count, width = len(layer.inputs), shapes[layer.inputs[0]][0]
            counts[layer.name] = count * (count - 1) // 2 * 2 * width
        else:
            counts[layer.name] = layer_flops(layer, shapes[layer.inputs[0]], shapes[layer.name])
    return counts


def step_flops(workload: Workload, mode: str) -> int:
    """FLOPs of one step at the workload's batch: inference, or a training step."""
    forward = sum(forward_flops(workload).values()) * workload.batch_size
    if mode == "infer":
        return forward
    parameters = sum(math.prod(s) for s in parameter_shapes(workload).values())
    return 3 * forward + OPTIMIZER_FLOPS_PER_PARAMETER * parameters
