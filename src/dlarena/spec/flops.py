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

from dlarena.spec.model import Layer, Workload
from dlarena.spec.shapes import infer_shapes, parameter_shapes

OPTIMIZER_FLOPS_PER_PARAMETER = 4


def layer_flops(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Forward FLOPs of one layer for one sample."""
    out_elements = math.prod(out_shape)
    in_elements = math.prod(in_shape)
    if layer.op == "dense":
        return out_elements * (2 * in_shape[-1] + (1 if layer.attr("bias") else 0))
    if layer.op == "tied_logits":
        return out_elements * 2 * in_shape[-1]
    if layer.op == "conv2d":
        k = layer.attr("kernel")
        seen = in_shape[-1] // layer.attr("groups")  # the channels each output value sums over
        return out_elements * (2 * k * k * seen + (1 if layer.attr("bias") else 0))
    if layer.op in ("max_pool", "avg_pool"):
        return out_elements * layer.attr("size") ** 2
    if layer.op == "batch_norm":
        return 2 * in_elements
    if layer.op == "layer_norm":
        return 5 * in_elements
    if layer.op == "embedding":
        return out_elements if layer.attr("positions") else 0
    if layer.op in ("first_token", "slice", "concat", "flatten", "reshape"):
        return 0  # data movement
    if layer.op == "dropout":
        return 0  # identity in inference; a training step's mask multiply is not counted

    if layer.op == "embedding_bag":  # the lookups are free; summing a bag of L rows: (L-1) D
        return (layer.attr("size") - 1) * layer.attr("units")
    if layer.op == "lstm":  # per step: both matmuls and the bias, then ~10 per unit for gates
        seq, units = in_shape[0], layer.attr("units")
        return seq * (4 * units * (2 * in_shape[-1] + 2 * units + 1) + 10 * units)
    if layer.op == "attention":
        seq, width = in_shape
        projections = 4 * seq * (2 * width * width + (width if layer.attr("bias") else 0))
        return projections + 4 * seq * seq * width + 3 * layer.attr("heads") * seq * seq
    return in_elements  # activations, add, global average pooling


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
