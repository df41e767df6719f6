"""The spec's optimizers for a Gluon Trainer: MXNet's own SGD where the rate is constant, and
where MXNet's differ from the spec (PyTorch's and Optax's formulation), written as MXNet
optimizers; the schedule as an MXNet LRScheduler."""

from __future__ import annotations

from typing import Any

import mxnet as mx
import numpy as np

from dlarena.spec.model import Optimizer


def gluon_optimizer(c: Optimizer) -> tuple[Any, dict[str, Any]]:
    """(optimizer, its options), as gluon.Trainer takes them."""
    if c.name == "sgd" and c.schedule == "constant":
        return "sgd", {"learning_rate": c.learning_rate, "momentum": c.momentum}
    if c.name == "sgd":
        return SpecSGD(c), {}
    return SpecAdam(c), {}


class SpecSchedule(mx.lr_scheduler.LRScheduler):
    """The spec's rate for each update. MXNet counts updates from 1 (its first update asks for
    num_update 1), the spec from 0: CosineScheduler's warm-up would start one step ahead."""

    def __init__(self, c: Optimizer):
        super().__init__(base_lr=c.learning_rate)
        self.config = c

    def __call__(self, num_update: int) -> float:
        return float(self.config.learning_rate_at(num_update - 1, np))


def schedule_of(c: Optimizer) -> SpecSchedule | None:
    return None if c.schedule == "constant" else SpecSchedule(c)


class SpecSGD(mx.optimizer.Optimizer):
    """SGD with momentum as the spec defines it: v = momentum v + g, weight -= rate x v. MXNet's
    own 'sgd' keeps the rate inside its momentum (mom = momentum mom - rate g): the same at a
    constant rate, not under a schedule."""

    def __init__(self, c: Optimizer):
        super().__init__(learning_rate=c.learning_rate, lr_scheduler=schedule_of(c))
        self.momentum = c.momentum

    def create_state(self, index: int, weight: Any) -> Any:
        return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)

    def update(self, index: int, weight: Any, grad: Any, state: Any) -> None:
        self._update_count(index)
        state[:] = self.momentum * state + grad * self.rescale_grad
        weight[:] -= self._get_lr(index) * state


class SpecAdam(mx.optimizer.Optimizer):
    """Adam and AdamW as the spec (and PyTorch and Optax) define them: epsilon added to
    sqrt(v_hat); AdamW's decay decoupled (weight -= rate x decay x weight, before the step).

    MXNet's own 'adam' adds epsilon before the bias correction ("epsilon hat"): 2.6e-4 from the
    spec after three steps of `kitchen`, past the parity gate.
    """

    def __init__(self, c: Optimizer):
        super().__init__(learning_rate=c.learning_rate, lr_scheduler=schedule_of(c))
        self.beta1, self.beta2, self.epsilon = c.beta1, c.beta2, c.epsilon
        self.decay = c.weight_decay  # AdamW's; 0 for Adam

    def create_state(self, index: int, weight: Any) -> Any:
        zeros = mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)
        return zeros, zeros.copy()

    def update(self, index: int, weight: Any, grad: Any, state: Any) -> None:
        self._update_count(index)
        step = self._index_update_count[index]
        grad = grad * self.rescale_grad
        m, v = state
        m[:] = self.beta1 * m + (1 - self.beta1) * grad
        v[:] = self.beta2 * v + (1 - self.beta2) * mx.nd.square(grad)
        m_hat = m / (1 - self.beta1**step)
        v_hat = v / (1 - self.beta2**step)
        rate = self._get_lr(index)
        if self.decay:
            weight[:] -= rate * self.decay * weight
        weight[:] -= rate * m_hat / (mx.nd.sqrt(v_hat) + self.epsilon)
