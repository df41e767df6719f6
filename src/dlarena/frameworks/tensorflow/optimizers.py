"""The spec's optimizers as Keras optimizers, written the way a Keras user would where Keras's
own differ from the spec (PyTorch's and Optax's formulation), and its schedule as Keras's."""

from __future__ import annotations

from typing import Any

from dlarena.frameworks.tensorflow.backend import keras, tf
from dlarena.spec.model import Optimizer


def keras_optimizer(c: Optimizer) -> keras.optimizers.Optimizer:
    """Keras's SGD where the rate is constant; SpecSGD under a schedule; SpecAdam for Adam and
    AdamW."""
    rate = keras_rate(c)
    if c.name == "sgd" and c.schedule == "constant":
        return keras.optimizers.SGD(c.learning_rate, momentum=c.momentum)
    if c.name == "sgd":
        return SpecSGD(rate, c.momentum)
    return SpecAdam(rate, c.beta1, c.beta2, c.epsilon, c.weight_decay)


def keras_rate(c: Optimizer) -> Any:
    """The rate, or Keras's CosineDecay with its linear warm-up from 0 (the spec's schedule)."""
    if c.schedule == "constant":
        return c.learning_rate
    span = c.decay_steps - c.warmup_steps
    if not c.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(c.learning_rate, span, alpha=0.0)
    return keras.optimizers.schedules.CosineDecay(
        0.0, span, alpha=0.0, warmup_target=c.learning_rate, warmup_steps=c.warmup_steps
    )


class SpecSGD(keras.optimizers.Optimizer):
    """SGD with momentum as the spec (and PyTorch and Optax) define it: v = momentum v + g,
    then variable -= rate x v. keras.optimizers.SGD keeps the rate inside its momentum
    (m = momentum m - rate g): the same at a constant rate, not under a schedule, where each
    step's rate would stay in the momentum of the steps after it."""

    def __init__(self, rate: Any, momentum: float):
        super().__init__(rate, name="spec_sgd")
        self.momentum = momentum

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._velocity = [self.add_variable_from_reference(v, "velocity") for v in var_list]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        gradient = tf.convert_to_tensor(gradient)
        velocity = self._velocity[self._get_variable_index(variable)]
        self.assign(velocity, self.momentum * velocity + gradient)
        self.assign_sub(variable, keras.ops.cast(learning_rate, variable.dtype) * velocity)


class SpecAdam(keras.optimizers.Optimizer):
    """Adam and AdamW as the spec (and PyTorch and Optax) define them: epsilon added to
    sqrt(v_hat).

    keras.optimizers.Adam adds epsilon before the bias correction ("epsilon hat"); after three
    steps of `kitchen` that differs by 2.6e-4 (relative L2 of the displacement) from the spec,
    past the parity gate. Written as a Keras optimizer, the way a Keras user would.
    """

    def __init__(self, rate: Any, beta_1: float, beta_2: float, epsilon: float, decay: float):
        # Keras's weight decay is decoupled (variable -= variable x decay x rate, before the
        # step), as AdamW's; None for Adam
        super().__init__(rate, weight_decay=decay or None, name="spec_adam")
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "v") for v in var_list]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        ops = keras.ops
        gradient = tf.convert_to_tensor(gradient)  # an embedding's IndexedSlices, made dense
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        step = ops.cast(self.iterations + 1, variable.dtype)
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * gradient)
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * ops.square(gradient))
        m_hat = m / (1 - ops.power(self.beta_1, step))
        v_hat = v / (1 - ops.power(self.beta_2, step))
        rate = ops.cast(learning_rate, variable.dtype)
        self.assign_sub(variable, rate * m_hat / (ops.sqrt(v_hat) + self.epsilon))
