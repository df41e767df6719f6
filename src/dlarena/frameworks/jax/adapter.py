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

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.frameworks.jax.layers import Graph, GraphModule, cell_scope
from dlarena.records import Setup
from dlarena.spec.model import ATTENTION_PARTS, Workload
from dlarena.spec.shapes import parameter_shapes

# canonical kind -> (collection, path inside the layer's Flax scope)
_FLAX_PATHS = {
    "kernel": ("params", ("kernel",)),
    "bias": ("params", ("bias",)),
    "gamma": ("params", ("scale",)),
    "beta": ("params", ("bias",)),
    "moving_mean": ("batch_stats", ("mean",)),
    "moving_var": ("batch_stats", ("var",)),
    "table": ("params", ("table", "embedding")),
    "positions": ("params", ("positions",)),
    **{
        f"{part}_{kind}": ("params", (scope, kind))
        for part, scope in zip(ATTENTION_PARTS, ("query", "key", "value", "out"), strict=True)
        for kind in ("kernel", "bias")
    },
}


# Flax's LSTMCell keeps one Dense per gate: inputs 'ii', 'if', 'ig', 'io' (no bias) and hidden
# 'hi', 'hf', 'hg', 'ho' (with the bias); the canonical (in, 4H) kernel is their columns side by
# side, in the gate order i, f, g, o.
_LSTM_GATES = {
    "input_kernel": ("ii", "if", "ig", "io"),
    "recurrent_kernel": ("hi", "hf", "hg", "ho"),
    "gate_bias": ("hi", "hf", "hg", "ho"),
}


def _lstm_leaves(kind: str, value: Any) -> dict[str, Any]:
    """One canonical LSTM array as its four Flax gate leaves: {gate: (leaf name, array)}."""
    leaf = "bias" if kind == "gate_bias" else "kernel"
    parts = jnp.split(jnp.asarray(value), 4, axis=-1)
    return {gate: (leaf, part) for gate, part in zip(_LSTM_GATES[kind], parts, strict=True)}


def _lstm_canonical(kind: str, cell: Any) -> np.ndarray:
    leaf = "bias" if kind == "gate_bias" else "kernel"
    return np.concatenate([np.asarray(cell[gate][leaf]) for gate in _LSTM_GATES[kind]], axis=-1)


def _variables(weights: Arrays, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Canonical weights as Flax variables, each reshaped to its Flax shape (attention's
    kernels are (D, H, D/H) and (H, D/H, D) there)."""
    variables: dict[str, Any] = {"params": {}, "batch_stats": {}}
    for key, value in weights.items():
        layer, kind = key.rsplit(".", 1)
        if kind in _LSTM_GATES:
            cell = variables["params"].setdefault(cell_scope(layer), {})
            for gate, (leaf, part) in _lstm_leaves(kind, value).items():
                cell.setdefault(gate, {})[leaf] = part
            continue
        collection, path = _FLAX_PATHS[kind]
        scope = variables[collection].setdefault(layer, {})
        for name in path[:-1]:
            scope = scope.setdefault(name, {})
        scope[path[-1]] = jnp.asarray(value.reshape(shapes.get(key, value.shape)))
    return variables


def _canonical(params: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> Arrays:
    """Flax params (or their gradients) as canonical arrays: `shapes` names every one."""
    out = {}
    for key, shape in shapes.items():
        layer, kind = key.rsplit(".", 1)
        if kind in _LSTM_GATES:
            out[key] = _lstm_canonical(kind, params[cell_scope(layer)])
            continue
        collection, path = _FLAX_PATHS[kind]
        if collection != "params":
            continue
        leaf = params[layer]
        for name in path:
            leaf = leaf[name]
        out[key] = np.asarray(leaf).reshape(shape)
    return out


def _flax_shapes(workload: Workload) -> dict[str, tuple[int, ...]]:
    """Where Flax's shape differs from the canonical one: attention's projections."""
    heads = {
        layer.name: layer.attr("heads") for layer in workload.layers if layer.op == "attention"
    }
    out = {}
    for key, shape in parameter_shapes(workload).items():
        layer, kind = key.rsplit(".", 1)
        if layer in heads:
            width, h = shape[0], heads[layer]
            split = (h, width // h)
            out[key] = {"o_kernel": (*split, width), "o_bias": (width,)}.get(
                kind, (width, *split) if kind.endswith("kernel") else split
            )
    return out


# Mixed precision: Flax's compute dtype over float32 parameters (optax updates them in float32);
# float16 would need loss scaling, which neither Flax nor Optax provides. float32 is Flax's
# default (None: each layer computes in its inputs' and parameters' type), as a user writes it:
# an explicit float32 sends every layer through another promotion path whose eager gradients
# took 7-9% less time than a plain Flax loop's (selfcheck; one process, the same 144 primitives)
_COMPUTE = {"fp32": None, "bf16": jnp.bfloat16}


class JaxAdapter(TrainingAdapter):
    @classmethod
    def forget(cls) -> None:
        """jax.jit traces each new model afresh (its functions are new objects); the compiled
        primitives that eager ops share across models stay cached, as they would in a notebook."""

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
        if workload.precision not in _COMPUTE:
            raise NotImplementedError(
                f"jax has no {workload.precision} path here: float16 training needs loss "
                "scaling, which neither Flax nor Optax provides (bf16 needs none)"
            )
        self.model = GraphModule(
            Graph(workload.layers), workload.vocab_size, _COMPUTE[workload.precision]
        )
        self.shapes = {k: v.shape for k, v in weights.items()}
        variables = _variables(weights, _flax_shapes(workload))
        self.params, self.batch_stats = variables["params"], variables["batch_stats"]
        self.tx = self._optimizer(workload)
        self.opt_state = self.tx.init(self.params)
        # the dropout key rides in the step's state (split inside it); None without dropout
        self.key = jax.random.PRNGKey(workload.seed) if workload.has_dropout else None
        wrap = jax.jit if tier == "compiled" else (lambda f: f)
        self._step = wrap(self._pure_step)
        self._infer = wrap(self._pure_infer)
        # the gradients parity reads come from the tier's own code: compiled, one XLA program
        # (op by op, the cnn's took 7 s of its 9 s parity check to compile each primitive)
        self._grads = wrap(jax.value_and_grad(self._loss, has_aux=True))

    @staticmethod
    def _optimizer(workload: Workload) -> optax.GradientTransformation:
        c = workload.optimizer
        rate: Any = c.learning_rate
        if c.schedule == "warmup_cosine":
            rate = optax.warmup_cosine_decay_schedule(
                0.0, c.learning_rate, c.warmup_steps, c.decay_steps, end_value=0.0
            )
        if c.name == "sgd":
            return optax.sgd(rate, momentum=c.momentum)
        if c.name == "adamw":
            return optax.adamw(
                rate, b1=c.beta1, b2=c.beta2, eps=c.epsilon, weight_decay=c.weight_decay
            )
        return optax.adam(rate, b1=c.beta1, b2=c.beta2, eps=c.epsilon)

    def _loss(self, params: Any, batch_stats: Any, key: Any, x: jax.Array, y: jax.Array) -> Any:
        rngs = None if key is None else {"dropout": key}
        if batch_stats:
            logits, updates = self.model.apply(
                {"params": params, "batch_stats": batch_stats},
                x,
                train=True,
                mutable=["batch_stats"],
                rngs=rngs,
            )
            batch_stats = updates["batch_stats"]
        else:  # no mutable collection: what a user writes for a model without batch norm
            logits = self.model.apply({"params": params}, x, train=True, rngs=rngs)
        if logits.dtype != jnp.float32:  # the loss in float32 whatever the compute type
            logits = logits.astype(jnp.float32)  # (a cast to its own type is still an op)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, batch_stats

    def _pure_step(self, params: Any, state: tuple, x: Any, y: Any) -> Any:
        batch_stats, opt_state, key = state
        key, used = (None, None) if key is None else jax.random.split(key)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)
        (loss, batch_stats), grads = grad_fn(params, batch_stats, used, x, y)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), (batch_stats, opt_state, key), loss

    def _pure_infer(self, params: Any, batch_stats: Any, x: Any) -> Any:
        variables = (
            {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}
        )
        return self.model.apply(variables, x, train=False).astype(jnp.float32)

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        return jax.device_put(x), jax.device_put(y)

    def infer(self, batch: Any) -> Any:
        return self._infer(self.params, self.batch_stats, batch[0])

    def train_step(self, batch: Any) -> Any:
        state = (self.batch_stats, self.opt_state, self.key)
        self.params, state, loss = self._step(self.params, state, *batch)
        self.batch_stats, self.opt_state, self.key = state
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
        (loss, _), grads = self._grads(self.params, self.batch_stats, self.key, *batch)
        return float(loss), _canonical(grads, self.shapes)

    def parameters(self) -> Arrays:
        return _canonical(self.params, self.shapes)


ADAPTER = JaxAdapter
