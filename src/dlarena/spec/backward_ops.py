"""The float64 reference's backward ops: each op's input gradients from its forward cache, its
parameter gradients added to `grads`, and the table reference.py dispatches on (`_BACKWARD`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.spec.forward_ops import _GELU_C, _erf, _heads, _merge_heads, grouped, interaction_pairs
from dlarena.spec.model import Layer

Arrays = dict[str, np.ndarray]

# ---- backward ops: (layer, params, cache, dy, grads) -> input gradients ----


def _dense_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    _linear_grads(grads, f"{layer.name}.kernel", f"{layer.name}.bias", x, dy, layer.attr("bias"))
    return [dy @ p[f"{layer.name}.kernel"].T]


def _linear_grads(
    grads: Arrays, kernel: str, bias: str, x: np.ndarray, dy: np.ndarray, has_bias: bool
) -> None:
    """x @ W + b's parameter gradients, over every leading axis (batch, time)."""
    flat_x, flat_dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads[kernel] = flat_x.T @ flat_dy
    if has_bias:
        grads[bias] = flat_dy.sum(axis=0)


def _relu_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy * (x > 0)]


def _relu6_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy * ((x > 0) & (x < 6))]


def _scale_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy * layer.attr("factor")]


def _tanh_back(layer: Layer, p: Arrays, out: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy * (1.0 - out**2)]


def _sigmoid_back(layer: Layer, p: Arrays, out: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy * out * (1.0 - out)]


def _gelu_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return [dy * (cdf + x * pdf)]


def _conv2d_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    padded_shape, patches = cache
    pad, k, s = layer.attr("padding"), layer.attr("kernel"), layer.attr("stride")
    kernel, groups = p[f"{layer.name}.kernel"], layer.attr("groups")
    if layer.attr("bias"):
        grads[f"{layer.name}.bias"] = dy.sum(axis=(0, 1, 2))
    if groups == 1:
        grads[f"{layer.name}.kernel"] = np.tensordot(patches, dy, axes=([0, 1, 2], [0, 1, 2]))
        dpatches = np.tensordot(dy, kernel, axes=([3], [3]))  # (N, Ho, Wo, k, k, C)
    else:
        split, kernels = grouped(patches, kernel, groups)
        dy_g = dy.reshape(*dy.shape[:3], groups, -1)  # (N, Ho, Wo, G, F/G)
        dk = np.einsum("nhwijgc,nhwgf->ijcgf", split, dy_g)
        grads[f"{layer.name}.kernel"] = dk.reshape(kernel.shape)
        dpatches = np.einsum("nhwgf,ijcgf->nhwijgc", dy_g, kernels).reshape(patches.shape)
    dx = _scatter_windows(dpatches, padded_shape, k, s)
    h, w = padded_shape[1] - 2 * pad, padded_shape[2] - 2 * pad
    return [dx[:, pad : pad + h, pad : pad + w, :]]


def _scatter_windows(dpatches: np.ndarray, shape: tuple, k: int, s: int) -> np.ndarray:
    """Sum window gradients (N, Ho, Wo, k, k, C) back into an NHWC array."""
    dx = np.zeros(shape)
    ho, wo = dpatches.shape[1:3]
    for i in range(k):
        for j in range(k):
            dx[:, i : i + s * ho : s, j : j + s * wo : s, :] += dpatches[:, :, :, i, j, :]
    return dx


def _batch_norm_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    xhat, inv_std, axes = cache
    grads[f"{layer.name}.gamma"] = (dy * xhat).sum(axis=axes)
    grads[f"{layer.name}.beta"] = dy.sum(axis=axes)
    dxhat = dy * p[f"{layer.name}.gamma"]
    m = dy.size / dy.shape[-1]
    mean_dxhat = dxhat.sum(axis=axes) / m
    mean_dxhat_xhat = (dxhat * xhat).sum(axis=axes) / m
    return [inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)]


def _max_pool_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    shape, argmax = cache
    k = layer.attr("size")
    onehot = argmax[:, :, :, None, :] == np.arange(k * k)[None, None, None, :, None]
    dpatches = (onehot * dy[:, :, :, None, :]).reshape(*dy.shape[:3], k, k, dy.shape[3])
    dx = _scatter_windows(dpatches, shape, k, layer.attr("stride"))
    pad = layer.attr("padding")
    return [dx[:, pad : shape[1] - pad, pad : shape[2] - pad]]


def _avg_pool_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    k = layer.attr("size")
    dpatches = np.broadcast_to(
        dy[:, :, :, None, None, :] / (k * k), (*dy.shape[:3], k, k, dy.shape[3])
    )
    return [_scatter_windows(dpatches, shape, k, layer.attr("stride"))]


def _add_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy, dy]


def _global_avg_pool_back(
    layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays
) -> list:
    return [np.broadcast_to(dy[:, None, None, :] / (shape[1] * shape[2]), shape)]


def _gelu_tanh_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    t = np.tanh(_GELU_C * (x + 0.044715 * x * x * x))
    inner = _GELU_C * (1.0 + 3 * 0.044715 * x**2)
    return [dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * inner)]


def _embedding_back(layer: Layer, p: Arrays, ids: Any, dy: np.ndarray, grads: Arrays) -> list:
    key = f"{layer.name}.table"
    table = grads.get(key, np.zeros_like(p[key]))  # a tied head may have added its share
    np.add.at(table, ids, dy)
    grads[key] = table
    if layer.attr("positions"):
        grads[f"{layer.name}.positions"] = dy.sum(axis=0)
    return [None]


def _layer_norm_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    xhat, inv_std = cache
    axes = tuple(range(dy.ndim - 1))
    grads[f"{layer.name}.gamma"] = (dy * xhat).sum(axis=axes)
    grads[f"{layer.name}.beta"] = dy.sum(axis=axes)
    dxhat = dy * p[f"{layer.name}.gamma"]
    mean_dxhat = dxhat.mean(axis=-1, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=-1, keepdims=True)
    return [inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)]


def _attention_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    x, q, k, v, probs, context = cache
    n, has_bias, scale = layer.name, layer.attr("bias"), 1.0 / math.sqrt(q.shape[-1])
    _linear_grads(grads, f"{n}.o_kernel", f"{n}.o_bias", context, dy, has_bias)
    dcontext = _heads(dy @ p[f"{n}.o_kernel"].T, q.shape[1])
    dprobs = dcontext @ v.transpose(0, 1, 3, 2)
    dscores = probs * (dprobs - (dprobs * probs).sum(axis=-1, keepdims=True))
    projected = {
        "q": _merge_heads(dscores @ k * scale),
        "k": _merge_heads(dscores.transpose(0, 1, 3, 2) @ q * scale),
        "v": _merge_heads(probs.transpose(0, 1, 3, 2) @ dcontext),
    }
    dx = np.zeros_like(x)
    for part, dpart in projected.items():
        _linear_grads(grads, f"{n}.{part}_kernel", f"{n}.{part}_bias", x, dpart, has_bias)
        dx += dpart @ p[f"{n}.{part}_kernel"].T
    return [dx, None][: len(layer.inputs)]


def _lstm_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    """Backpropagation through time."""
    (x, steps), n = cache, layer.name
    kernel, recurrent = p[f"{n}.input_kernel"], p[f"{n}.recurrent_kernel"]
    dx, dkernel, drecurrent = np.zeros_like(x), np.zeros_like(kernel), np.zeros_like(recurrent)
    dbias = np.zeros(kernel.shape[1])
    dh_next, dc_next = np.zeros_like(steps[0][0]), np.zeros_like(steps[0][0])
    for t in reversed(range(len(steps))):
        h_prev, c_prev, i, f, g, o, c, _ = steps[t]
        dh = dh_next + (dy[:, t] if layer.attr("sequence") else (dy if t == len(steps) - 1 else 0))
        tanh_c = np.tanh(c)
        dc = dc_next + dh * o * (1.0 - tanh_c**2)
        dz = np.concatenate(
            [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2),
             dh * tanh_c * o * (1 - o)],
            axis=1,
        )  # fmt: skip
        dkernel += x[:, t].T @ dz
        drecurrent += h_prev.T @ dz
        dbias += dz.sum(axis=0)
        dx[:, t] = dz @ kernel.T
        dh_next, dc_next = dz @ recurrent.T, dc * f
    grads[f"{n}.input_kernel"], grads[f"{n}.recurrent_kernel"] = dkernel, drecurrent
    grads[f"{n}.gate_bias"] = dbias
    return [dx]


def _slice_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    dx = np.zeros(shape)
    start = layer.attr("start")
    dx[:, start : start + layer.attr("size")] = dy
    return [dx]


def _embedding_bag_back(layer: Layer, p: Arrays, ids: Any, dy: np.ndarray, grads: Arrays) -> list:
    table = np.zeros_like(p[f"{layer.name}.table"])
    share = dy / ids.shape[1] if layer.attr("mode") == "mean" else dy
    np.add.at(table, ids, np.broadcast_to(share[:, None, :], (*ids.shape, dy.shape[-1])))
    grads[f"{layer.name}.table"] = table
    return [None]


def _concat_back(layer: Layer, p: Arrays, widths: Any, dy: np.ndarray, grads: Arrays) -> list:
    return np.split(dy, np.cumsum(widths)[:-1], axis=-1)


def _dot_interaction_back(layer: Layer, p: Arrays, z: Any, dy: np.ndarray, grads: Arrays) -> list:
    width = z.shape[-1]
    i, j = interaction_pairs(z.shape[1])
    dgram = np.zeros((len(z), z.shape[1], z.shape[1]))
    dgram[:, i, j] = dy[:, width:]
    dz = np.einsum("bfg,bgd->bfd", dgram + dgram.transpose(0, 2, 1), z)
    dz[:, 0] += dy[:, :width]
    return [dz[:, f] for f in range(z.shape[1])]


def _reshape_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy.reshape(shape)]


def _tied_logits_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    key = f"{layer.attr('embedding')}.table"
    flat_x, flat_dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads[key] = grads.get(key, 0.0) + flat_dy.T @ flat_x
    return [dy @ p[key]]


def _first_token_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    dx = np.zeros(shape)
    dx[:, 0] = dy
    return [dx]


_BACKWARD = {
    "dense": _dense_back,
    "relu": _relu_back,
    "gelu": _gelu_back,
    "tanh": _tanh_back,
    "relu6": _relu6_back,
    "scale": _scale_back,
    "conv2d": _conv2d_back,
    "batch_norm": _batch_norm_back,
    "max_pool": _max_pool_back,
    "avg_pool": _avg_pool_back,
    "add": _add_back,
    "global_avg_pool": _global_avg_pool_back,
    "gelu_tanh": _gelu_tanh_back,
    "sigmoid": _sigmoid_back,
    "dropout": lambda layer, p, cache, dy, grads: [dy],
    "embedding": _embedding_back,
    "layer_norm": _layer_norm_back,
    "attention": _attention_back,
    "first_token": _first_token_back,
    "tied_logits": _tied_logits_back,
    "lstm": _lstm_back,
    "slice": _slice_back,
    "embedding_bag": _embedding_bag_back,
    "concat": _concat_back,
    "dot_interaction": _dot_interaction_back,
    "flatten": _reshape_back,
    "reshape": _reshape_back,
}
