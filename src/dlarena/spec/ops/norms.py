"""Normalization: `batch_norm` (over every axis but the features; the batch's statistics in
training, the moving ones in inference) and `layer_norm` (over the features of each position)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.spec.model import Layer
from dlarena.spec.ops.base import SEQUENCE, Arrays, Op


def _batch_norm(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x, eps, axes = ins[0], layer.attr("epsilon"), tuple(range(ins[0].ndim - 1))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = p[f"{layer.name}.moving_mean"], p[f"{layer.name}.moving_var"]
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return p[f"{layer.name}.gamma"] * xhat + p[f"{layer.name}.beta"], (xhat, inv_std, axes)


def _batch_norm_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    xhat, inv_std, axes = cache
    grads[f"{layer.name}.gamma"] = (dy * xhat).sum(axis=axes)
    grads[f"{layer.name}.beta"] = dy.sum(axis=axes)
    dxhat = dy * p[f"{layer.name}.gamma"]
    m = dy.size / dy.shape[-1]
    mean_dxhat = dxhat.sum(axis=axes) / m
    mean_dxhat_xhat = (dxhat * xhat).sum(axis=axes) / m
    return [inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)]


BATCH_NORM = Op(
    attrs={"epsilon": ("epsilon", 1e-5), "momentum": ("fraction", 0.9)},
    # the moving statistics are state, not trained (spec/shapes.py: is_trainable)
    params=lambda layer, ins, out, w: [
        (kind, (ins[-1],)) for kind in ("gamma", "beta", "moving_mean", "moving_var")
    ],
    flops=lambda layer, ins, out: 2 * math.prod(ins[0]),  # scale and shift
    forward=_batch_norm,
    backward=_batch_norm_back,
)


def _layer_norm(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + layer.attr("epsilon"))
    xhat = (x - x.mean(axis=-1, keepdims=True)) * inv_std
    return p[f"{layer.name}.gamma"] * xhat + p[f"{layer.name}.beta"], (xhat, inv_std)


def _layer_norm_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    xhat, inv_std = cache
    axes = tuple(range(dy.ndim - 1))
    grads[f"{layer.name}.gamma"] = (dy * xhat).sum(axis=axes)
    grads[f"{layer.name}.beta"] = dy.sum(axis=axes)
    dxhat = dy * p[f"{layer.name}.gamma"]
    mean_dxhat = dxhat.mean(axis=-1, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=-1, keepdims=True)
    return [inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)]


LAYER_NORM = Op(
    attrs={"epsilon": ("epsilon", 1e-5)},
    needs=SEQUENCE,
    params=lambda layer, ins, out, w: [("gamma", (ins[-1],)), ("beta", (ins[-1],))],
    # mean and variance sums, normalize, scale, shift
    flops=lambda layer, ins, out: 5 * math.prod(ins[0]),
    forward=_layer_norm,
    backward=_layer_norm_back,
)
