"""JAX without Flax or Optax: jax.numpy and jax.lax functions over a dict of arrays, jax.grad,
and the optimizer written out; 'compiled' is jax.jit of the whole step.

This is what JAX code looks like below any library, so that a cell of this runtime beside a
`jax` (Flax linen) cell shows what the layer library costs or saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from dlarena.frameworks.base import RAW_OPS, Arrays, refuse_ops
from dlarena.frameworks.jax.adapter import JaxAdapter
from dlarena.records import Setup
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.shapes import is_trainable

_NHWC = ("NHWC", "HWIO", "NHWC")


def _pool(x: jax.Array, layer: Layer, init: float, op: Any) -> jax.Array:
    k, s = layer.attr("size"), layer.attr("stride")
    p = layer.attr("padding") if layer.op == "max_pool" else 0  # padded with `init`: -inf
    padding = ((0, 0), (p, p), (p, p), (0, 0))
    return lax.reduce_window(x, init, op, (1, k, k, 1), (1, s, s, 1), padding)


def _batch_norm(layer: Layer, p: Any, state: Any, x: jax.Array, train: bool) -> Any:
    """Normalized output and the layer's new running statistics (unchanged in inference)."""
    name, eps = layer.name, layer.attr("epsilon")
    mean_key, var_key = f"{name}.moving_mean", f"{name}.moving_var"
    if train:
        axes = tuple(range(x.ndim - 1))
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        keep = layer.attr("momentum")
        state = {
            mean_key: keep * state[mean_key] + (1 - keep) * mean,
            var_key: keep * state[var_key] + (1 - keep) * var,
        }
    else:
        mean, var = state[mean_key], state[var_key]
    out = (x - mean) * lax.rsqrt(var + eps) * p[f"{name}.gamma"] + p[f"{name}.beta"]
    return out, state


def _dense(layer: Layer, p: Any, ins: list[jax.Array]) -> jax.Array:
    return _with_bias(layer, p, ins[0] @ p[f"{layer.name}.kernel"])


def _conv(layer: Layer, p: Any, ins: list[jax.Array]) -> jax.Array:
    s, pad = layer.attr("stride"), layer.attr("padding")
    out = lax.conv_general_dilated(
        ins[0],
        p[f"{layer.name}.kernel"],
        (s, s),
        [(pad, pad)] * 2,
        dimension_numbers=_NHWC,
        feature_group_count=layer.attr("groups"),
    )
    return _with_bias(layer, p, out)


def _with_bias(layer: Layer, p: Any, out: jax.Array) -> jax.Array:
    return out + p[f"{layer.name}.bias"] if layer.attr("bias") else out


# Each raw op but batch norm (which also updates its state: forward): (layer, params, inputs)
_OPS: dict[str, Callable[[Layer, Any, list[jax.Array]], jax.Array]] = {
    "dense": _dense,
    "conv2d": _conv,
    "max_pool": lambda layer, p, ins: _pool(ins[0], layer, -jnp.inf, lax.max),
    "avg_pool": lambda layer, p, ins: _pool(ins[0], layer, 0.0, lax.add) / layer.attr("size") ** 2,
    "add": lambda layer, p, ins: ins[0] + ins[1],
    "global_avg_pool": lambda layer, p, ins: ins[0].mean(axis=(1, 2)),
    "relu": lambda layer, p, ins: jnp.maximum(ins[0], 0.0),
    "gelu": lambda layer, p, ins: jax.nn.gelu(ins[0], approximate=False),
    "sigmoid": lambda layer, p, ins: jax.nn.sigmoid(ins[0]),
    "relu6": lambda layer, p, ins: jnp.clip(ins[0], 0.0, 6.0),
    "scale": lambda layer, p, ins: ins[0] * layer.attr("factor"),
    "tanh": lambda layer, p, ins: jnp.tanh(ins[0]),
}
assert set(_OPS) | {"batch_norm"} == set(RAW_OPS), "every raw op has a rule"


def forward(layers: tuple[Layer, ...], p: Any, state: Any, x: jax.Array, train: bool) -> Any:
    """Logits and the new batch-norm state."""
    values = {INPUT: x}
    new_state = dict(state)
    for layer in layers:
        ins = [values[n] for n in layer.inputs]
        if layer.op == "batch_norm":
            values[layer.name], changed = _batch_norm(layer, p, state, ins[0], train)
            new_state.update(changed)
        else:
            values[layer.name] = _OPS[layer.op](layer, p, ins)
    return values[layers[-1].name], new_state


def _cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    picked = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1)
    return -picked.mean()


class RawJaxAdapter(JaxAdapter):
    """Device placement, sync and memory as in the Flax adapter; the model and step are raw."""

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        refuse_ops("jax-raw", workload, RAW_OPS)
        self.layers = workload.layers
        self.config = workload.optimizer
        arrays = {k: jnp.asarray(v) for k, v in weights.items()}
        self.params = {k: v for k, v in arrays.items() if is_trainable(k)}
        # Named as the Flax adapter's, whose infer and train_step serve here too.
        self.batch_stats = {k: v for k, v in arrays.items() if not is_trainable(k)}
        zeros = {k: jnp.zeros_like(v) for k, v in self.params.items()}
        self.opt_state: Any = (zeros, zeros, jnp.zeros((), jnp.float32))  # m, v, step
        self.key = None  # no dropout among the raw ops
        wrap = jax.jit if tier == "compiled" else (lambda f: f)
        self._step = wrap(self._pure_step)
        self._infer = wrap(lambda p, s, x: forward(self.layers, p, s, x, False)[0])
        self._grads = wrap(jax.value_and_grad(self._loss, has_aux=True))  # parity's, as the tier

    def _loss(self, params: Any, state: Any, key: Any, x: jax.Array, y: jax.Array) -> Any:
        logits, state = forward(self.layers, params, state, x, True)
        return _cross_entropy(logits, y), state

    def _update(self, params: Any, grads: Any, slots: Any) -> Any:
        """SGD with momentum, Adam or AdamW, in the spec's formulation (PyTorch's), at the
        spec's rate for this step."""
        c, (m, v, step) = self.config, slots
        rate = c.learning_rate_at(step, jnp)
        step = step + 1
        if c.name == "sgd":
            m = jax.tree.map(lambda m, g: c.momentum * m + g, m, grads)
            return jax.tree.map(lambda p, m: p - rate * m, params, m), (m, v, step)
        m = jax.tree.map(lambda m, g: c.beta1 * m + (1 - c.beta1) * g, m, grads)
        v = jax.tree.map(lambda v, g: c.beta2 * v + (1 - c.beta2) * g * g, v, grads)
        m_fix, v_fix = 1 - c.beta1**step, 1 - c.beta2**step

        def move(p: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
            p = p - rate * c.weight_decay * p  # decoupled (adamw; 0 for adam)
            return p - rate * (m / m_fix) / (jnp.sqrt(v / v_fix) + c.epsilon)

        return jax.tree.map(move, params, m, v), (m, v, step)

    def _pure_step(self, params: Any, state: tuple, x: Any, y: Any) -> Any:
        stats, slots, key = state
        (loss, stats), grads = jax.value_and_grad(self._loss, has_aux=True)(
            params, stats, key, x, y
        )
        params, slots = self._update(params, grads, slots)
        return params, (stats, slots, key), loss

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        (loss, _), grads = self._grads(self.params, self.batch_stats, None, *batch)
        return float(loss), {k: np.asarray(g) for k, g in grads.items()}

    def parameters(self) -> Arrays:
        return {k: np.asarray(v) for k, v in self.params.items()}


ADAPTER = RawJaxAdapter
