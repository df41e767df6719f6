"""`conv2d`: a 2-D convolution over NHWC images, kernels (kh, kw, in / groups, filters), zero
padding on each side, optionally grouped (depthwise when groups equal the channels)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Layer, Workload
from dlarena.spec.ops.base import (
    IMAGE,
    REQUIRED,
    Arrays,
    Op,
    Params,
    Shape,
    patches,
    scatter_windows,
    window,
    with_bias,
)


def _shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    k, s, p = layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
    groups, channels, filters = layer.attr("groups"), ins[0][2], layer.attr("filters")
    if channels % groups or filters % groups:
        raise SpecError(
            f"{where}: groups {groups} must divide the input's {channels} channels and the "
            f"{filters} filters"
        )
    return (*(window(d + 2 * p, k, s, where) for d in ins[0][:2]), layer.attr("filters"))


def _params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    k = layer.attr("kernel")
    per_group = ins[-1] // layer.attr("groups")  # each filter sees its group's channels
    return with_bias(layer, (k, k, per_group, layer.attr("filters")), out)


def _flops(layer: Layer, ins: list[Shape], out: Shape) -> int:
    k = layer.attr("kernel")
    seen = ins[0][-1] // layer.attr("groups")  # the channels each output value sums over
    return math.prod(out) * (2 * k * k * seen + (1 if layer.attr("bias") else 0))


def grouped(windows: np.ndarray, kernel: np.ndarray, groups: int) -> tuple[Any, Any]:
    """Windows (N, Ho, Wo, k, k, C) and kernel (k, k, C/G, F) with their channels and filters
    split into the G groups: (..., G, C/G) and (k, k, C/G, G, F/G)."""
    k, _, per_group, filters = kernel.shape
    split = windows.reshape(*windows.shape[:5], groups, per_group)
    return split, kernel.reshape(k, k, per_group, groups, filters // groups)


def _forward(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    pad, k, s = layer.attr("padding"), layer.attr("kernel"), layer.attr("stride")
    padded = np.pad(ins[0], ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows, kernel, groups = patches(padded, k, s), p[f"{layer.name}.kernel"], layer.attr("groups")
    if groups == 1:
        out = np.tensordot(windows, kernel, axes=([3, 4, 5], [0, 1, 2]))
    else:  # each group's filters over its own channels
        split, kernels = grouped(windows, kernel, groups)
        out = np.einsum("nhwijgc,ijcgf->nhwgf", split, kernels).reshape(*windows.shape[:3], -1)
    if layer.attr("bias"):
        out = out + p[f"{layer.name}.bias"]
    return out, (padded.shape, windows)


def _backward(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    padded_shape, windows = cache
    pad, k, s = layer.attr("padding"), layer.attr("kernel"), layer.attr("stride")
    kernel, groups = p[f"{layer.name}.kernel"], layer.attr("groups")
    if layer.attr("bias"):
        grads[f"{layer.name}.bias"] = dy.sum(axis=(0, 1, 2))
    if groups == 1:
        grads[f"{layer.name}.kernel"] = np.tensordot(windows, dy, axes=([0, 1, 2], [0, 1, 2]))
        dpatches = np.tensordot(dy, kernel, axes=([3], [3]))  # (N, Ho, Wo, k, k, C)
    else:
        split, kernels = grouped(windows, kernel, groups)
        dy_g = dy.reshape(*dy.shape[:3], groups, -1)  # (N, Ho, Wo, G, F/G)
        dk = np.einsum("nhwijgc,nhwgf->ijcgf", split, dy_g)
        grads[f"{layer.name}.kernel"] = dk.reshape(kernel.shape)
        dpatches = np.einsum("nhwgf,ijcgf->nhwijgc", dy_g, kernels).reshape(windows.shape)
    dx = scatter_windows(dpatches, padded_shape, k, s)
    h, w = padded_shape[1] - 2 * pad, padded_shape[2] - 2 * pad
    return [dx[:, pad : pad + h, pad : pad + w, :]]


CONV2D = Op(
    attrs={
        "filters": ("count", REQUIRED),
        "kernel": ("window", 3),
        "stride": ("window", 1),
        "padding": ("padding", 0),
        "bias": ("bool", False),
        # channels and filters split into this many groups, each convolved on its own: the
        # input's channel count is depthwise (MobileNet); both must divide by it
        "groups": ("count", 1),
    },
    needs=IMAGE,
    shape=_shape,
    params=_params,
    flops=_flops,
    forward=_forward,
    backward=_backward,
)
