"""The float64 reference's forward ops, one function per layer op, and the table reference.py
dispatches on (`_FORWARD`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.spec.model import ATTENTION_PARTS, Layer

Arrays = dict[str, np.ndarray]


# ---- forward ops: (layer, params, inputs, training) -> (output, cache) ----


def _dense(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = ins[0] @ p[f"{layer.name}.kernel"]
    if layer.attr("bias"):
        out = out + p[f"{layer.name}.bias"]
    return out, ins[0]


def _relu(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return np.maximum(ins[0], 0.0), ins[0]


def _relu6(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return np.clip(ins[0], 0.0, 6.0), ins[0]


def _scale(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0] * layer.attr("factor"), None


def _tanh(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = np.tanh(ins[0])
    return out, out


def _sigmoid_layer(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = _sigmoid(ins[0])
    return out, out


def _erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise in float64 (SciPy's, within an ulp or two of math.erf and 100 times as
    fast as it vectorized). Imported here: only the host computes references, and not every
    worker environment has SciPy."""
    from scipy.special import erf

    return np.asarray(erf(x), dtype=np.float64)


def _gelu(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))), x


def _patches(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Sliding windows of an NHWC array: (N, Ho, Wo, k, k, C)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    return windows[:, ::stride, ::stride].transpose(0, 1, 2, 4, 5, 3)


def grouped(patches: np.ndarray, kernel: np.ndarray, groups: int) -> tuple[Any, Any]:
    """Windows (N, Ho, Wo, k, k, C) and kernel (k, k, C/G, F) with their channels and filters
    split into the G groups: (..., G, C/G) and (k, k, C/G, G, F/G)."""
    k, _, per_group, filters = kernel.shape
    split = patches.reshape(*patches.shape[:5], groups, per_group)
    return split, kernel.reshape(k, k, per_group, groups, filters // groups)


def _conv2d(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    pad, k, s = layer.attr("padding"), layer.attr("kernel"), layer.attr("stride")
    padded = np.pad(ins[0], ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    patches, kernel, groups = (
        _patches(padded, k, s),
        p[f"{layer.name}.kernel"],
        layer.attr("groups"),
    )
    if groups == 1:
        out = np.tensordot(patches, kernel, axes=([3, 4, 5], [0, 1, 2]))
    else:  # each group's filters over its own channels
        split, kernels = grouped(patches, kernel, groups)
        out = np.einsum("nhwijgc,ijcgf->nhwgf", split, kernels).reshape(*patches.shape[:3], -1)
    if layer.attr("bias"):
        out = out + p[f"{layer.name}.bias"]
    return out, (padded.shape, patches)


def _batch_norm(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x, eps, axes = ins[0], layer.attr("epsilon"), tuple(range(ins[0].ndim - 1))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = p[f"{layer.name}.moving_mean"], p[f"{layer.name}.moving_var"]
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return p[f"{layer.name}.gamma"] * xhat + p[f"{layer.name}.beta"], (xhat, inv_std, axes)


def pool_padded(layer: Layer, x: np.ndarray) -> np.ndarray:
    """A max pool's input with its -inf padding."""
    pad = layer.attr("padding")
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-np.inf)


def _max_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    padded = pool_padded(layer, ins[0])
    patches = _patches(padded, layer.attr("size"), layer.attr("stride"))
    n, ho, wo, k, _, c = patches.shape
    flat = patches.reshape(n, ho, wo, k * k, c)
    return flat.max(axis=3), (padded.shape, flat.argmax(axis=3))


def _avg_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    patches = _patches(ins[0], layer.attr("size"), layer.attr("stride"))
    return patches.mean(axis=(3, 4)), ins[0].shape


def _add(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0] + ins[1], None


def _global_avg_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0].mean(axis=(1, 2)), ins[0].shape


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x * x * x))), x


def _dropout(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    """Identity: the reference is what parity checks, and parity runs with dropout off."""
    return ins[0], None


def _embedding(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    ids = ins[0].astype(np.int64)
    out = p[f"{layer.name}.table"][ids]
    if layer.attr("positions"):
        out = out + p[f"{layer.name}.positions"][None]
    return out, ids


def _layer_norm(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + layer.attr("epsilon"))
    xhat = (x - x.mean(axis=-1, keepdims=True)) * inv_std
    return p[f"{layer.name}.gamma"] * xhat + p[f"{layer.name}.beta"], (xhat, inv_std)


def attention_mask(layer: Layer, ins: list[np.ndarray]) -> np.ndarray | None:
    """True where a query may attend a key: (batch or 1, 1, query, key), or None (all)."""
    seq = ins[0].shape[1]
    if layer.attr("mask") == "causal":
        return np.tril(np.ones((seq, seq), bool))[None, None]
    if layer.attr("mask") == "padding":
        return (ins[1] != 0)[:, None, None, :]
    return None


def _heads(x: np.ndarray, heads: int) -> np.ndarray:
    """(B, T, D) -> (B, H, T, D/H): head h is the h-th block of D/H columns."""
    b, t, d = x.shape
    return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    b, h, t, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * dh)


def _project(layer: Layer, p: Arrays, x: np.ndarray, part: str) -> np.ndarray:
    out = x @ p[f"{layer.name}.{part}_kernel"]
    return out + p[f"{layer.name}.{part}_bias"] if layer.attr("bias") else out


def _attention(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    """Scaled dot-product attention over H heads, with the layer's mask."""
    x, heads = ins[0], layer.attr("heads")
    q, k, v = (_heads(_project(layer, p, x, part), heads) for part in ATTENTION_PARTS[:3])
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    mask = attention_mask(layer, ins)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    context = _merge_heads(probs @ v)
    return _project(layer, p, context, "o"), (x, q, k, v, probs, context)


def _first_token(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0][:, 0], ins[0].shape


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lstm(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    """Gates i, f, g, o from x_t @ W + h @ U + b; c = f c + i g; h = o tanh(c); zero start."""
    x, n = ins[0], layer.name
    batch, seq, _ = x.shape
    units = layer.attr("units")
    h, c = np.zeros((batch, units)), np.zeros((batch, units))
    steps = []
    for t in range(seq):
        z = x[:, t] @ p[f"{n}.input_kernel"] + h @ p[f"{n}.recurrent_kernel"] + p[f"{n}.gate_bias"]
        i, f, o = (_sigmoid(z[:, k * units : (k + 1) * units]) for k in (0, 1, 3))
        g = np.tanh(z[:, 2 * units : 3 * units])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        steps.append((h, c, i, f, g, o, c_new, h_new))
        h, c = h_new, c_new
    hs = np.stack([step[-1] for step in steps], axis=1)
    return (hs if layer.attr("sequence") else h), (x, steps)


def _slice(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    start = layer.attr("start")
    return ins[0][:, start : start + layer.attr("size")], ins[0].shape


def _embedding_bag(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    start = layer.attr("start")
    ids = ins[0][:, start : start + layer.attr("size")].astype(np.int64)
    rows = p[f"{layer.name}.table"][ids]
    return (rows.mean(axis=1) if layer.attr("mode") == "mean" else rows.sum(axis=1)), ids


def _concat(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return np.concatenate(ins, axis=-1), [x.shape[-1] for x in ins]


def interaction_pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j in row-major order: the order every framework's interaction uses."""
    return np.triu_indices(count, k=1)


def _dot_interaction(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    z = np.stack(ins, axis=1)  # (B, F, D)
    i, j = interaction_pairs(len(ins))
    dots = np.einsum("bfd,bgd->bfg", z, z)[:, i, j]
    return np.concatenate([ins[0], dots], axis=-1), z


def _reshape(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    target = layer.attr("shape") if layer.op == "reshape" else (-1,)
    return ins[0].reshape(len(ins[0]), *target), ins[0].shape


def _tied_logits(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0] @ p[f"{layer.attr('embedding')}.table"].T, ins[0]


_FORWARD = {
    "dense": _dense,
    "relu": _relu,
    "gelu": _gelu,
    "tanh": _tanh,
    "relu6": _relu6,
    "scale": _scale,
    "conv2d": _conv2d,
    "batch_norm": _batch_norm,
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "add": _add,
    "global_avg_pool": _global_avg_pool,
    "gelu_tanh": _gelu_tanh,
    "sigmoid": _sigmoid_layer,
    "dropout": _dropout,
    "embedding": _embedding,
    "layer_norm": _layer_norm,
    "attention": _attention,
    "first_token": _first_token,
    "tied_logits": _tied_logits,
    "lstm": _lstm,
    "slice": _slice,
    "embedding_bag": _embedding_bag,
    "concat": _concat,
    "dot_interaction": _dot_interaction,
    "flatten": _reshape,
    "reshape": _reshape,
}
