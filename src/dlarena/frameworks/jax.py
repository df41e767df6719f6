"""JAX: a Flax linen module over the spec's layer graph, Optax optimizers; 'compiled' is jax.jit.

Why linen and not NNX, the API new Flax code is written in: the compiled tier here is jax.jit of
one pure step function (parameters, optimizer state and batch in; new ones out), which is what
linen gives directly and what the hand-written selfcheck loop does too. With NNX the same step
needs nnx.jit (or nnx.split/merge around jax.jit), whose per-call graph bookkeeping is itself a
cost users of NNX pay and dlarena would have to show as its own API level, beside linen (as
`jax-raw`, plain jax.numpy, shows the cost of linen itself); that NNX variant is not built yet.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.records import Setup
from dlarena.spec.model import INPUT, Layer, Workload

_ACTIVATIONS = {
    "relu": nn.relu,
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "tanh": jnp.tanh,
}
# canonical kind -> (collection, flax name)
_FLAX_NAMES = {
    "kernel": ("params", "kernel"),
    "bias": ("params", "bias"),
    "gamma": ("params", "scale"),
    "beta": ("params", "bias"),
    "moving_mean": ("batch_stats", "mean"),
    "moving_var": ("batch_stats", "var"),
}


class GraphModule(nn.Module):
    """The spec's layer graph (NHWC, as Flax expects)."""

    layers: tuple[Layer, ...]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        values = {INPUT: x}
        for layer in self.layers:
            values[layer.name] = self._apply(layer, [values[n] for n in layer.inputs], train)
        return values[self.layers[-1].name]

    def _apply(self, layer: Layer, ins: list[jax.Array], train: bool) -> jax.Array:
        x = ins[0]
        if layer.op == "dense":
            return nn.Dense(layer.attr("units"), use_bias=layer.attr("bias"), name=layer.name)(x)
        if layer.op == "conv2d":
            k, s, p = layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
            return nn.Conv(
                layer.attr("filters"),
                (k, k),
                strides=(s, s),
                padding=[(p, p), (p, p)],
                use_bias=layer.attr("bias"),
                name=layer.name,
            )(x)
        if layer.op == "batch_norm":
            return nn.BatchNorm(
                use_running_average=not train,
                momentum=layer.attr("momentum"),
                epsilon=layer.attr("epsilon"),
                name=layer.name,
            )(x)
        if layer.op in ("max_pool", "avg_pool"):
            pool = nn.max_pool if layer.op == "max_pool" else nn.avg_pool
            k, s = layer.attr("size"), layer.attr("stride")
            return pool(x, (k, k), strides=(s, s), padding="VALID")
        if layer.op == "add":
            return x + ins[1]
        if layer.op == "global_avg_pool":
            return jnp.mean(x, axis=(1, 2))
        return _ACTIVATIONS[layer.op](x)


def _variables(weights: Arrays) -> dict[str, Any]:
    variables: dict[str, Any] = {"params": {}, "batch_stats": {}}
    for key, value in weights.items():
        layer, kind = key.rsplit(".", 1)
        collection, name = _FLAX_NAMES[kind]
        variables[collection].setdefault(layer, {})[name] = jnp.asarray(value)
    return variables


def _canonical(params: dict[str, Any]) -> Arrays:
    flax_to_kind = {"kernel": "kernel", "bias": "bias", "scale": "gamma"}
    out = {}
    for layer, leaves in params.items():
        is_norm = "scale" in leaves
        for name, value in leaves.items():
            kind = "beta" if (is_norm and name == "bias") else flax_to_kind[name]
            out[f"{layer}.{kind}"] = np.asarray(value)
    return out


class JaxAdapter(TrainingAdapter):
    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        # Threads come from PJRT_NPROC, set by the launcher before this process started.
        jax.config.update("jax_platforms", "cuda" if device == "gpu" else "cpu")
        return Setup(
            framework_version=jax.__version__,
            device=str(jax.devices()[0]),
            intra_op_threads=intra_op,
            extras=(("flax", flax.__version__), ("optax", optax.__version__)),
        )

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        self.model = GraphModule(workload.layers)
        variables = _variables(weights)
        self.params, self.batch_stats = variables["params"], variables["batch_stats"]
        self.tx = self._optimizer(workload)
        self.opt_state = self.tx.init(self.params)
        wrap = jax.jit if tier == "compiled" else (lambda f: f)
        self._step = wrap(self._pure_step)
        self._infer = wrap(self._pure_infer)

    @staticmethod
    def _optimizer(workload: Workload) -> optax.GradientTransformation:
        c = workload.optimizer
        if c.name == "sgd":
            return optax.sgd(c.learning_rate, momentum=c.momentum)
        return optax.adam(c.learning_rate, b1=c.beta1, b2=c.beta2, eps=c.epsilon)

    def _loss(self, params: Any, batch_stats: Any, x: jax.Array, y: jax.Array) -> Any:
        logits, updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats},
            x,
            train=True,
            mutable=["batch_stats"],
        )
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, updates.get("batch_stats", batch_stats)

    def _pure_step(self, params: Any, batch_stats: Any, opt_state: Any, x: Any, y: Any) -> Any:
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)
        (loss, batch_stats), grads = grad_fn(params, batch_stats, x, y)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    def _pure_infer(self, params: Any, batch_stats: Any, x: Any) -> Any:
        return self.model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        return jax.device_put(x), jax.device_put(y)

    def infer(self, batch: Any) -> Any:
        return self._infer(self.params, self.batch_stats, batch[0])

    def train_step(self, batch: Any) -> Any:
        self.params, self.batch_stats, self.opt_state, loss = self._step(
            self.params, self.batch_stats, self.opt_state, *batch
        )
        return (self.params, self.opt_state, loss)

    def sync(self, handle: Any) -> None:
        jax.block_until_ready(handle)

    def to_numpy(self, handle: Any) -> np.ndarray:
        value = handle[-1] if isinstance(handle, tuple) else handle
        return np.asarray(value)

    def allocator_peak_mb(self) -> float | None:
        stats = jax.devices()[0].memory_stats()  # None on the CPU client
        if not stats or "peak_bytes_in_use" not in stats:
            return None
        return stats["peak_bytes_in_use"] / 2**20

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        (loss, _), grads = jax.value_and_grad(self._loss, has_aux=True)(
            self.params, self.batch_stats, *batch
        )
        return float(loss), _canonical(grads)

    def parameters(self) -> Arrays:
        return _canonical(self.params)


ADAPTER = JaxAdapter
