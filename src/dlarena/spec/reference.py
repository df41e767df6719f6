"""An independent float64 NumPy implementation of a workload: forward, gradients, optimizer.

It is the yardstick of the parity gate: every framework's forward output, loss, gradients and
parameters after a few optimizer steps are compared with what this module computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.spec.model import INPUT, Layer, Workload, is_trainable

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
            upstream[name] = upstream[name] + dx if name in upstream else dx
    return grads


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(-np.log(probs[rows, labels]).mean())
    probs[rows, labels] -= 1.0
    return loss, probs / len(labels)


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
        self.step += 1
        for key, grad in grads.items():
            params[key] = params[key] - self._update(key, grad)

    def _update(self, key: str, grad: np.ndarray) -> np.ndarray:
        c = self.config
        if c.name == "sgd":
            velocity = self.state.setdefault(key, [np.zeros_like(grad)])
            velocity[0] = c.momentum * velocity[0] + grad
            return c.learning_rate * velocity[0]
        m, v = self.state.setdefault(key, [np.zeros_like(grad), np.zeros_like(grad)])
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


def _max_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    patches = _patches(ins[0], layer.attr("size"), layer.attr("stride"))
    n, ho, wo, k, _, c = patches.shape
    flat = patches.reshape(n, ho, wo, k * k, c)
    return flat.max(axis=3), (ins[0].shape, flat.argmax(axis=3))


def _avg_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    patches = _patches(ins[0], layer.attr("size"), layer.attr("stride"))
    return patches.mean(axis=(3, 4)), ins[0].shape


def _add(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0] + ins[1], None


def _global_avg_pool(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    return ins[0].mean(axis=(1, 2)), ins[0].shape


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
}


# ---- backward ops: (layer, params, cache, dy, grads) -> input gradients ----


def _dense_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    grads[f"{layer.name}.kernel"] = x.T @ dy
    if layer.attr("bias"):
        grads[f"{layer.name}.bias"] = dy.sum(axis=0)
    return [dy @ p[f"{layer.name}.kernel"].T]


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
    return [_scatter_windows(dpatches, shape, k, layer.attr("stride"))]


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
}
