"""Floating-point operations of a workload, per layer, from the spec alone (stdlib only).

Conventions (those of most published FLOP counts): a multiply-add is 2 FLOPs; elementwise ops
(activations, batch-norm's scale and shift, additions, pooling comparisons) count 1 per element
they read; a training step is 3x the forward pass (the backward pass computes the gradient of
both the inputs and the weights, each as costly as the forward) plus 4 per parameter for the
optimizer's update.
"""

from __future__ import annotations

import math

from dlarena.spec.model import Layer, Workload, infer_shapes, parameter_shapes

OPTIMIZER_FLOPS_PER_PARAMETER = 4


def layer_flops(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Forward FLOPs of one layer for one sample."""
    out_elements = math.prod(out_shape)
    in_elements = math.prod(in_shape)
    if layer.op == "dense":
        return out_elements * (2 * in_shape[-1] + (1 if layer.attr("bias") else 0))
    if layer.op == "conv2d":
        k = layer.attr("kernel")
        return out_elements * (2 * k * k * in_shape[-1] + (1 if layer.attr("bias") else 0))
    if layer.op in ("max_pool", "avg_pool"):
        return out_elements * layer.attr("size") ** 2
    if layer.op == "batch_norm":
        return 2 * in_elements
    return in_elements  # activations, add, global average pooling


def forward_flops(workload: Workload) -> dict[str, int]:
    """Layer name -> forward FLOPs per sample."""
    shapes = infer_shapes(workload)
    return {
        layer.name: layer_flops(layer, shapes[layer.inputs[0]], shapes[layer.name])
        for layer in workload.layers
    }


def step_flops(workload: Workload, mode: str) -> int:
    """FLOPs of one step at the workload's batch: inference, or a training step."""
    forward = sum(forward_flops(workload).values()) * workload.batch_size
    if mode == "infer":
        return forward
    parameters = sum(math.prod(s) for s in parameter_shapes(workload).values())
    return 3 * forward + OPTIMIZER_FLOPS_PER_PARAMETER * parameters
