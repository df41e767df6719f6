"""TensorFlow without Keras: tf.Variable parameters, tf ops (tf.matmul, tf.nn.conv2d, ...), a
GradientTape step and the optimizer written out with Variable updates; 'compiled' is
tf.function(jit_compile=True).

This is TensorFlow below its layer library, so that a cell of this runtime beside a
`tensorflow` (Keras 3) cell shows what Keras costs or saves.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow.experimental.numpy as tnp

from dlarena.frameworks.base import RAW_OPS, Arrays, refuse_ops
from dlarena.frameworks.tensorflow.adapter import TensorflowAdapter
from dlarena.frameworks.tensorflow.backend import tf
from dlarena.records import Setup
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.shapes import is_trainable


def _pool(x: tf.Tensor, layer: Layer) -> tf.Tensor:
    if layer.op == "avg_pool":
        return tf.nn.avg_pool2d(x, layer.attr("size"), layer.attr("stride"), "VALID")
    pad = layer.attr("padding")
    if pad:
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=float("-inf"))
    return tf.nn.max_pool2d(x, layer.attr("size"), layer.attr("stride"), "VALID")


def _conv(x: tf.Tensor, layer: Layer, kernel: tf.Variable) -> tf.Tensor:
    pad = layer.attr("padding")
    padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
    groups = layer.attr("groups")
    if groups == 1:
        return tf.nn.conv2d(x, kernel, layer.attr("stride"), padding)
    # TensorFlow has no gradient for a grouped tf.nn.conv2d on the CPU: one convolution per
    # group (its channels, its filters), joined, as Keras's Conv2D does there
    pairs = zip(tf.split(x, groups, axis=-1), tf.split(kernel, groups, axis=-1), strict=True)
    return tf.concat([tf.nn.conv2d(a, k, layer.attr("stride"), padding) for a, k in pairs], -1)


def _with_bias(layer: Layer, v: dict[str, tf.Variable], out: tf.Tensor) -> tf.Tensor:
    return out + v[f"{layer.name}.bias"] if layer.attr("bias") else out


# Each raw op but batch norm (a method of the model: it updates its variables): (layer,
# variables, inputs)
_OPS: dict[str, Callable[[Layer, dict[str, tf.Variable], list[tf.Tensor]], tf.Tensor]] = {
    "dense": lambda layer, v, ins: _with_bias(
        layer, v, tf.matmul(ins[0], v[f"{layer.name}.kernel"])
    ),
    "conv2d": lambda layer, v, ins: _with_bias(
        layer, v, _conv(ins[0], layer, v[f"{layer.name}.kernel"])
    ),
    "max_pool": lambda layer, v, ins: _pool(ins[0], layer),
    "avg_pool": lambda layer, v, ins: _pool(ins[0], layer),
    "add": lambda layer, v, ins: ins[0] + ins[1],
    "global_avg_pool": lambda layer, v, ins: tf.reduce_mean(ins[0], axis=(1, 2)),
    "relu": lambda layer, v, ins: tf.nn.relu(ins[0]),
    "gelu": lambda layer, v, ins: tf.nn.gelu(ins[0], approximate=False),
    "sigmoid": lambda layer, v, ins: tf.math.sigmoid(ins[0]),
    "relu6": lambda layer, v, ins: tf.nn.relu6(ins[0]),
    "scale": lambda layer, v, ins: ins[0] * layer.attr("factor"),
    "tanh": lambda layer, v, ins: tf.math.tanh(ins[0]),
}
assert set(_OPS) | {"batch_norm"} == set(RAW_OPS), "every raw op has a rule"


class _Model:
    """The spec's layer graph as a function of tf.Variables."""

    def __init__(self, workload: Workload, weights: Arrays):
        self.layers = workload.layers
        self.vars = {
            k: tf.Variable(v, trainable=is_trainable(k), name=k) for k, v in weights.items()
        }

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        values = {INPUT: x}
        for layer in self.layers:
            values[layer.name] = self._apply(layer, [values[n] for n in layer.inputs], training)
        return values[self.layers[-1].name]

    def _apply(self, layer: Layer, ins: list[tf.Tensor], training: bool) -> tf.Tensor:
        if layer.op == "batch_norm":  # it also updates its moving statistics
            return self._batch_norm(layer, ins[0], training)
        return _OPS[layer.op](layer, self.vars, ins)

    def _batch_norm(self, layer: Layer, x: tf.Tensor, training: bool) -> tf.Tensor:
        v, name = self.vars, layer.name
        moving_mean, moving_var = v[f"{name}.moving_mean"], v[f"{name}.moving_var"]
        if training:
            mean, var = tf.nn.moments(x, axes=list(range(x.shape.rank - 1)))
            keep = layer.attr("momentum")
            moving_mean.assign(keep * moving_mean + (1 - keep) * mean)
            moving_var.assign(keep * moving_var + (1 - keep) * var)
        else:
            mean, var = moving_mean, moving_var
        return tf.nn.batch_normalization(
            x, mean, var, v[f"{name}.beta"], v[f"{name}.gamma"], layer.attr("epsilon")
        )


class _Optimizer:
    """SGD with momentum, Adam or AdamW in the spec's formulation, as tf.Variable updates, at
    the spec's rate for each step; called as a Keras optimizer is, `apply(grads, variables)`,
    always with the same variables."""

    def __init__(self, workload: Workload, variables: list[tf.Variable]):
        self.config = workload.optimizer
        self.m = [tf.Variable(tf.zeros_like(p)) for p in variables]
        adam = self.config.name != "sgd"
        self.v = [tf.Variable(tf.zeros_like(p)) for p in variables] if adam else self.m
        self.step = tf.Variable(0.0)

    def apply(self, grads: list[tf.Tensor], variables: list[tf.Variable]) -> None:
        c = self.config
        rate = c.learning_rate_at(self.step, tnp)
        self.step.assign_add(1.0)
        if c.name == "sgd":
            for p, g, m in zip(variables, grads, self.m, strict=True):
                m.assign(c.momentum * m + g)
                p.assign_sub(rate * m)
            return
        m_fix, v_fix = 1 - c.beta1**self.step, 1 - c.beta2**self.step
        for p, g, m, v in zip(variables, grads, self.m, self.v, strict=True):
            m.assign(c.beta1 * m + (1 - c.beta1) * g)
            v.assign(c.beta2 * v + (1 - c.beta2) * tf.square(g))
            if c.weight_decay:  # adamw: decoupled
                p.assign_sub(rate * c.weight_decay * p)
            p.assign_sub(rate * (m / m_fix) / (tf.sqrt(v / v_fix) + c.epsilon))


class RawTensorflowAdapter(TensorflowAdapter):
    """The Keras adapter's step, loss, placement and sync, over a raw model and optimizer."""

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        refuse_ops("tensorflow-raw", workload, RAW_OPS)
        self.device = setup.device
        with tf.device(self.device):
            self.model = _Model(workload, weights)
            self.trainable = {k: v for k, v in self.model.vars.items() if v.trainable}
            self.shapes = {k: v.shape for k, v in weights.items()}
            self.optimizer = _Optimizer(workload, list(self.trainable.values()))
        self._compile(tier)


ADAPTER = RawTensorflowAdapter
