"""An independent float64 NumPy implementation of a workload: forward, gradients, optimizer.

It is the yardstick of the parity gate: every framework's forward output, loss, gradients and
parameters after a few optimizer steps are compared with what this module computes. Each op's
forward and backward pass is in spec/ops/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.ops import OPS
from dlarena.spec.shapes import is_trainable

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
        values[layer.name], cache[layer.name] = OPS[layer.op].forward(layer, params, ins, training)
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
        dins = OPS[layer.op].backward(layer, params, cache[layer.name], dy, grads)
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
    losses, first_grads = [], None
    for loss, grads in train_steps(workload, params, [(x, y)] * steps, observe):
        first_grads = grads if first_grads is None else first_grads
        losses.append(loss)
    trainable = {k: v for k, v in params.items() if is_trainable(k)}
    return {"losses": np.array(losses), "grads": first_grads, "params": trainable}


def train_steps(
    workload: Workload,
    params: Arrays,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    observe: Observer | None = None,
) -> Iterator[tuple[float, Arrays]]:
    """One optimizer step per batch, on `params` (float64, updated in place): each step's loss
    and gradients, yielded once its update is applied."""
    optimizer = _Optimizer(workload)
    for x, y in batches:
        logits, cache = forward(workload, params, x, training=True, observe=observe)
        loss, dlogits = softmax_cross_entropy(logits, y)
        grads = backward(workload, params, cache, dlogits)
        optimizer.apply(params, grads)
        yield loss, grads


class _Optimizer:
    """SGD with momentum, Adam and AdamW in PyTorch's formulation (optax and Keras agree to
    rounding), at the spec's learning rate for each step."""

    def __init__(self, workload: Workload):
        self.config = workload.optimizer
        self.state: dict[str, list[np.ndarray]] = {}
        self.step = 0

    def apply(self, params: Arrays, grads: Arrays) -> None:
        """In place: `params` holds the trace's own float64 copies."""
        rate = float(self.config.learning_rate_at(self.step, np))
        self.step += 1
        for key, grad in grads.items():
            if self.config.name == "adamw":  # decoupled: the decay is not in the moments
                params[key] -= rate * self.config.weight_decay * params[key]
            params[key] -= self._update(key, grad, rate)

    def _state(self, key: str, grad: np.ndarray, slots: int) -> list[np.ndarray]:
        if key not in self.state:
            self.state[key] = [np.zeros_like(grad) for _ in range(slots)]
        return self.state[key]

    def _update(self, key: str, grad: np.ndarray, rate: float) -> np.ndarray:
        c = self.config
        if c.name == "sgd":  # in place: a wide layer's arrays are hundreds of MB
            velocity, update = self._state(key, grad, 2)
            velocity *= c.momentum
            velocity += grad
            return np.multiply(velocity, rate, out=update)
        m, v = self._state(key, grad, 2)
        m[:] = c.beta1 * m + (1 - c.beta1) * grad
        v[:] = c.beta2 * v + (1 - c.beta2) * grad**2
        m_hat = m / (1 - c.beta1**self.step)
        v_hat = v / (1 - c.beta2**self.step)
        return rate * m_hat / (np.sqrt(v_hat) + c.epsilon)
