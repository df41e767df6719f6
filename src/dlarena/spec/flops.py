"""Floating-point operations of a workload, per layer, from the spec alone (each op's rule is in
spec/ops/).

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
from dlarena.spec.ops import OPS
from dlarena.spec.ops.base import Shape
from dlarena.spec.shapes import infer_shapes, parameter_shapes

OPTIMIZER_FLOPS_PER_PARAMETER = 4


def layer_flops(layer: Layer, ins: list[Shape], out: Shape) -> int:
    """Forward FLOPs of one layer for one sample, from its inputs' and its output's shapes (an
    op without a rule: one per element of its first input)."""
    rule = OPS[layer.op].flops
    return math.prod(ins[0]) if rule is None else rule(layer, ins, out)


def forward_flops(workload: Workload) -> dict[str, int]:
    """Layer name -> forward FLOPs per sample."""
    shapes = infer_shapes(workload)
    return {
        layer.name: layer_flops(layer, [shapes[n] for n in layer.inputs], shapes[layer.name])
        for layer in workload.layers
    }


def step_flops(workload: Workload, mode: str) -> int:
    """FLOPs of one step at the workload's batch: inference, or a training step."""
    forward = sum(forward_flops(workload).values()) * workload.batch_size
    if mode == "infer":
        return forward
    parameters = sum(math.prod(s) for s in parameter_shapes(workload).values())
    return 3 * forward + OPTIMIZER_FLOPS_PER_PARAMETER * parameters
