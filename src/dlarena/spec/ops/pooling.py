"""Pooling over NHWC images: `max_pool` (padded with -inf on each side, as every framework's max
pool pads: a padded cell never wins), `avg_pool` (unpadded) and `global_avg_pool` (the mean of
each channel)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Layer
from dlarena.spec.ops.base import (
    IMAGE,
    Arrays,
    Op,
    Shape,
    patches,
    row_min,
    scatter_windows,
    window,
)


def _shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    k, s = layer.attr("size"), layer.attr("stride")
    p = layer.attr("padding") if layer.op == "max_pool" else 0
    if p > k // 2:
        raise SpecError(f"{where}: padding {p} is more than half the window {k}")
    return (*(window(d + 2 * p, k, s, where) for d in ins[0][:2]), ins[0][2])


def _flops(layer: Layer, ins: list[Shape], out: Shape) -> int:
    return math.prod(out) * layer.attr("size") ** 2


def pool_padded(layer: Layer, x: np.ndarray) -> np.ndarray:
    """A max pool's input with its -inf padding."""
    pad = layer.attr("padding")
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-np.inf)


def _max_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    padded = pool_padded(layer, ins[0])
    windows = patches(padded, layer.attr("size"), layer.attr("stride"))
    n, ho, wo, k, _, c = windows.shape
    flat = windows.reshape(n, ho, wo, k * k, c)
    return flat.max(axis=3), (padded.shape, flat.argmax(axis=3))


def _max_pool_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    shape, argmax = cache
    k = layer.attr("size")
    onehot = argmax[:, :, :, None, :] == np.arange(k * k)[None, None, None, :, None]
    dpatches = (onehot * dy[:, :, :, None, :]).reshape(*dy.shape[:3], k, k, dy.shape[3])
    dx = scatter_windows(dpatches, shape, k, layer.attr("stride"))
    pad = layer.attr("padding")
    return [dx[:, pad : shape[1] - pad, pad : shape[2] - pad]]


def _max_pool_margin(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The gap between each window's two largest values (a window whose largest is a clamped
    zero ties by design, not by rounding)."""
    k, s = layer.attr("size"), layer.attr("stride")
    padded = pool_padded(layer, x)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::s, ::s]
    flat = windows.reshape(*windows.shape[:4], k * k)
    top_two = -np.partition(-flat, 1, axis=-1)[..., :2]
    gap = top_two[..., 0] - top_two[..., 1]
    return row_min(np.where(top_two[..., 0] == 0.0, np.inf, gap))


MAX_POOL = Op(
    attrs={"size": ("window", 2), "stride": ("window", 2), "padding": ("padding", 0)},
    needs=IMAGE,
    shape=_shape,
    flops=_flops,
    forward=_max_pool,
    backward=_max_pool_back,
    margin=_max_pool_margin,
)


def _avg_pool_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    k = layer.attr("size")
    dpatches = np.broadcast_to(
        dy[:, :, :, None, None, :] / (k * k), (*dy.shape[:3], k, k, dy.shape[3])
    )
    return [scatter_windows(dpatches, shape, k, layer.attr("stride"))]


AVG_POOL = Op(
    attrs={"size": ("window", 2), "stride": ("window", 2)},
    needs=IMAGE,
    shape=_shape,
    flops=_flops,
    forward=lambda layer, p, ins, training: (
        patches(ins[0], layer.attr("size"), layer.attr("stride")).mean(axis=(3, 4)),
        ins[0].shape,
    ),
    backward=_avg_pool_back,
)

GLOBAL_AVG_POOL = Op(
    needs=IMAGE,
    shape=lambda layer, ins, where: (ins[0][2],),
    forward=lambda layer, p, ins, training: (ins[0].mean(axis=(1, 2)), ins[0].shape),
    backward=lambda layer, p, shape, dy, grads: [
        np.broadcast_to(dy[:, None, None, :] / (shape[1] * shape[2]), shape)
    ],
)
