"""An independent float64 NumPy implementation of a workload: forward, gradients, optimizer.

It is the yardstick of the parity gate: every framework's forward output, loss, gradients and
parameters after a few optimizer steps are compared with what this module computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.spec.model import ATTENTION_PARTS, INPUT, Layer, Workload, is_trainable

Arrays = dict[str, np.ndarray]


Observer = Callable[[Layer, list[np.ndarray]], None]


def forward(
    workload: Workload,
    params: Arrays,
    x: np.ndarray,
    training: bool,
    observe: Observer | None = None,
) -> tuple[Any, Any]:
    """Logits and the per-layer cache that `backward` needs; `observe` sees each layer's inputs."""
    values: Arrays = {INPUT: np.asarray(x, np.float64)}
    cache: dict[str, Any] = {}
    for layer in workload.layers:
        ins = [values[name] for name in layer.inputs]
        if observe is not None:
            observe(layer, ins)
        values[layer.name], cache[layer.name] = _FORWARD[layer.op](layer, params, ins, training)
    return values[workload.layers[-1].name], cache


def backward(
    workload: Workload, params: Arrays, cache: dict[str, Any], dlogits: np.ndarray
) -> Arrays:
    """Gradients of the loss for every trainable parameter."""
    upstream: Arrays = {workload.layers[-1].name: dlogits}
    grads: Arrays = {}
    for layer in reversed(workload.layers):
        dy = upstream.pop(layer.name, None)
        if dy is None:
            continue
        dins = _BACKWARD[layer.op](layer, params, cache[layer.name], dy, grads)
        for name, dx in zip(layer.inputs, dins, strict=True):
            if dx is None:  # token ids: no gradient
                continue
            upstream[name] = upstream[name] + dx if name in upstream else dx
    return grads


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss over every label (a row's class, or every token of a sequence) and its
    gradient with respect to the logits."""
    flat = logits.reshape(-1, logits.shape[-1])
    targets = labels.reshape(-1)
    probs = np.exp(flat - flat.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(len(targets))
    loss = float(-np.log(probs[rows, targets]).mean())
    probs[rows, targets] -= 1.0
    return loss, (probs / len(targets)).reshape(logits.shape)


def train_trace(
    workload: Workload, weights: Arrays, x: np.ndarray, y: np.ndarray, steps: int,
    observe: Observer | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Losses of `steps` optimizer steps, the first step's gradients and the final parameters."""
    params = {k: v.astype(np.float64) for k, v in weights.items()}
    optimizer = _Optimizer(workload)
    losses, first_grads = [], None
    for _ in range(steps):
        logits, cache = forward(workload, params, x, training=True, observe=observe)
        loss, dlogits = softmax_cross_entropy(logits, y)
        grads = backward(workload, params, cache, dlogits)
        first_grads = grads if first_grads is None else first_grads
        losses.append(loss)
        optimizer.apply(params, grads)
    trainable = {k: v for k, v in params.items() if is_trainable(k)}
    return {"losses": np.array(losses), "grads": first_grads, "params": trainable}


class _Optimizer:
    """SGD with momentum and Adam, in PyTorch's formulation (optax and Keras agree to rounding)."""

    def __init__(self, workload: Workload):
        self.config = workload.optimizer
        self.state: dict[str, list[np.ndarray]] = {}
        self.step = 0

    def apply(self, params: Arrays, grads: Arrays) -> None:
        """In place: `params` holds the trace's own float64 copies."""
        self.step += 1
        for key, grad in grads.items():
            params[key] -= self._update(key, grad)

    def _state(self, key: str, grad: np.ndarray, slots: int) -> list[np.ndarray]:
        if key not in self.state:
            self.state[key] = [np.zeros_like(grad) for _ in range(slots)]
        return self.state[key]

    def _update(self, key: str, grad: np.ndarray) -> np.ndarray:
        c = self.config
        if c.name == "sgd":
            (velocity,) = self._state(key, grad, 1)
            velocity *= c.momentum
            velocity += grad
            return c.learning_rate * velocity
        m, v = self._state(key, grad, 2)
        m[:] = c.beta1 * m + (1 - c.beta1) * grad
        v[:] = c.beta2 * v + (1 - c.beta2) * grad**2
        m_hat = m / (1 - c.beta1**self.step)
        v_hat = v / (1 - c.beta2**self.step)
        return c.learning_rate * m_hat / (np.sqrt(v_hat) + c.epsilon)


# ---- forward ops: (layer, params, inputs, training) -> (output, cache) ----


def _dense(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = ins[0] @ p[f"{layer.name}.kernel"]
    if layer.attr("bias"):
        out = out + p[f"{layer.name}.bias"]
    return out, ins[0]


def _relu(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return np.maximum(ins[0], 0.0), ins[0]


def _tanh(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = np.tanh(ins[0])
    return out, out


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))), x


def _patches(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Sliding windows of an NHWC array: (N, Ho, Wo, k, k, C)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    return windows[:, ::stride, ::stride].transpose(0, 1, 2, 4, 5, 3)


def _conv2d(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    pad, k, s = layer.attr("padding"), layer.attr("kernel"), layer.attr("stride")
    padded = np.pad(ins[0], ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    patches = _patches(padded, k, s)
    out = np.tensordot(patches, p[f"{layer.name}.kernel"], axes=([3, 4, 5], [0, 1, 2]))
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
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x**3))), x


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
    "conv2d": _conv2d,
    "batch_norm": _batch_norm,
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "add": _add,
    "global_avg_pool": _global_avg_pool,
    "gelu_tanh": _gelu_tanh,
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


def _tanh_back(layer: Layer, p: Arrays, out: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy * (1.0 - out**2)]


def _gelu_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return [dy * (cdf + x * pdf)]


def _conv2d_back(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    padded_shape, patches = cache
    pad, k, s = layer.attr("padding"), layer.attr("kernel"), layer.attr("stride")
    kernel = p[f"{layer.name}.kernel"]
    grads[f"{layer.name}.kernel"] = np.tensordot(patches, dy, axes=([0, 1, 2], [0, 1, 2]))
    if layer.attr("bias"):
        grads[f"{layer.name}.bias"] = dy.sum(axis=(0, 1, 2))
    dpatches = np.tensordot(dy, kernel, axes=([3], [3]))  # (N, Ho, Wo, k, k, C)
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
    t = np.tanh(_GELU_C * (x + 0.044715 * x**3))
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
    "conv2d": _conv2d_back,
    "batch_norm": _batch_norm_back,
    "max_pool": _max_pool_back,
    "avg_pool": _avg_pool_back,
    "add": _add_back,
    "global_avg_pool": _global_avg_pool_back,
    "gelu_tanh": _gelu_tanh_back,
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
assert set(_FORWARD) == set(_BACKWARD), "every op needs both passes"
