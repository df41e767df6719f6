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
from dlarena.spec.model import ATTENTION_PARTS, INPUT, Layer, Workload
from dlarena.spec.shapes import parameter_shapes

_ACTIVATIONS = {
    "relu": nn.relu,
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
}
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


class TokenEmbedding(nn.Module):
    """nn.Embed plus learned absolute positions; `attend` is the tied head (nn.Embed.attend)."""

    vocab: int
    seq: int
    units: int
    positions: bool

    def setup(self) -> None:
        self.table = nn.Embed(self.vocab, self.units)
        if self.positions:
            self.position_table = self.param(
                "positions", nn.initializers.zeros, (self.seq, self.units)
            )

    def __call__(self, ids: jax.Array) -> jax.Array:
        out = self.table(ids)
        return out + self.position_table if self.positions else out

    def attend(self, x: jax.Array) -> jax.Array:
        return self.table.attend(x)


# Flax's LSTMCell keeps one Dense per gate: inputs 'ii', 'if', 'ig', 'io' (no bias) and hidden
# 'hi', 'hf', 'hg', 'ho' (with the bias); the canonical (in, 4H) kernel is their columns side by
# side, in the gate order i, f, g, o.
_LSTM_GATES = {
    "input_kernel": ("ii", "if", "ig", "io"),
    "recurrent_kernel": ("hi", "hf", "hg", "ho"),
    "gate_bias": ("hi", "hf", "hg", "ho"),
}


def _cell_scope(layer: str) -> str:
    return f"{layer}_cell"


def _lstm_leaves(kind: str, value: Any) -> dict[str, Any]:
    """One canonical LSTM array as its four Flax gate leaves: {gate: (leaf name, array)}."""
    leaf = "bias" if kind == "gate_bias" else "kernel"
    parts = jnp.split(jnp.asarray(value), 4, axis=-1)
    return {gate: (leaf, part) for gate, part in zip(_LSTM_GATES[kind], parts, strict=True)}


def _lstm_canonical(kind: str, cell: Any) -> np.ndarray:
    leaf = "bias" if kind == "gate_bias" else "kernel"
    return np.concatenate([np.asarray(cell[gate][leaf]) for gate in _LSTM_GATES[kind]], axis=-1)


class Bag(nn.Module):
    """nn.Embed over a bag of id columns [start, start + size), summed or averaged."""

    vocab: int
    units: int
    start: int
    size: int
    mode: str

    def setup(self) -> None:
        self.table = nn.Embed(self.vocab, self.units)

    def __call__(self, x: jax.Array) -> jax.Array:
        rows = self.table(x[:, self.start : self.start + self.size].astype(jnp.int32))
        return rows.mean(axis=1) if self.mode == "mean" else rows.sum(axis=1)


def _interaction(ins: list[jax.Array]) -> jax.Array:
    """DLRM's interaction: the first vector, then every pairwise dot product (i < j)."""
    z = jnp.stack(ins, axis=1)
    i, j = np.triu_indices(len(ins), k=1)
    return jnp.concatenate([ins[0], jnp.einsum("bfd,bgd->bfg", z, z)[:, i, j]], axis=-1)


def _attention(layer: Layer, ins: list[jax.Array]) -> jax.Array:
    """nn.MultiHeadDotProductAttention over x; the padding mask hides padded keys only (a padded
    query still attends to the real tokens, as in every framework here)."""
    x = ins[0]
    mask = None
    if layer.attr("mask") == "padding":
        mask = (ins[1] != 0)[:, None, None, :]
    elif layer.attr("mask") == "causal":
        mask = nn.make_causal_mask(x[..., 0])
    return nn.MultiHeadDotProductAttention(
        num_heads=layer.attr("heads"),
        qkv_features=x.shape[-1],
        out_features=x.shape[-1],
        use_bias=layer.attr("bias"),
        deterministic=True,
        name=layer.name,
    )(x, mask=mask)


class GraphModule(nn.Module):
    """The spec's layer graph (NHWC, as Flax expects)."""

    layers: tuple[Layer, ...]
    vocab_size: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        values = {INPUT: x}
        embeddings: dict[str, TokenEmbedding] = {}  # for a tied head
        for layer in self.layers:
            ins = [values[n] for n in layer.inputs]
            if layer.op == "embedding":
                seq, units, positions = x.shape[1], layer.attr("units"), layer.attr("positions")
                embeddings[layer.name] = TokenEmbedding(
                    self.vocab_size, seq, units, positions, name=layer.name
                )
                values[layer.name] = embeddings[layer.name](ins[0])
            elif layer.op == "tied_logits":
                values[layer.name] = embeddings[layer.attr("embedding")].attend(ins[0])
            else:
                values[layer.name] = self._apply(layer, ins, train)
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
            k, s = layer.attr("size"), layer.attr("stride")
            if layer.op == "avg_pool":
                return nn.avg_pool(x, (k, k), strides=(s, s), padding="VALID")
            p = layer.attr("padding")  # nn.max_pool pads with -inf
            return nn.max_pool(x, (k, k), strides=(s, s), padding=((p, p), (p, p)))
        if layer.op == "add":
            return x + ins[1]
        if layer.op == "global_avg_pool":
            return jnp.mean(x, axis=(1, 2))
        if layer.op == "layer_norm":
            return nn.LayerNorm(epsilon=layer.attr("epsilon"), name=layer.name)(x)
        if layer.op == "attention":
            return _attention(layer, ins)
        if layer.op == "first_token":
            return x[:, 0]
        if layer.op == "dropout":  # its masks draw from the 'dropout' rng of a training step
            return nn.Dropout(layer.attr("rate"), deterministic=not train)(x)
        if layer.op == "embedding_bag":
            attrs = (layer.attr(k) for k in ("vocab", "units", "start", "size", "mode"))
            return Bag(*attrs, name=layer.name)(x)
        if layer.op == "slice":
            return x[:, layer.attr("start") : layer.attr("start") + layer.attr("size")]
        if layer.op == "concat":
            return jnp.concatenate(ins, axis=-1)
        if layer.op == "dot_interaction":
            return _interaction(ins)
        if layer.op in ("flatten", "reshape"):
            shape = tuple(layer.attr("shape")) if layer.op == "reshape" else (-1,)
            return x.reshape(len(x), *shape)
        if layer.op == "lstm":
            # the cell lives in this scope under its own name: params[f"{layer}_cell"]
            cell = nn.LSTMCell(layer.attr("units"), name=_cell_scope(layer.name))
            out = nn.RNN(cell, name=layer.name)(x)
            return out if layer.attr("sequence") else out[:, -1]
        return _ACTIVATIONS[layer.op](x)


def _variables(weights: Arrays, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Canonical weights as Flax variables, each reshaped to its Flax shape (attention's
    kernels are (D, H, D/H) and (H, D/H, D) there)."""
    variables: dict[str, Any] = {"params": {}, "batch_stats": {}}
    for key, value in weights.items():
        layer, kind = key.rsplit(".", 1)
        if kind in _LSTM_GATES:
            cell = variables["params"].setdefault(_cell_scope(layer), {})
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
            out[key] = _lstm_canonical(kind, params[_cell_scope(layer)])
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
        self.model = GraphModule(workload.layers, workload.vocab_size)
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

    @staticmethod
    def _optimizer(workload: Workload) -> optax.GradientTransformation:
        c = workload.optimizer
        if c.name == "sgd":
            return optax.sgd(c.learning_rate, momentum=c.momentum)
        return optax.adam(c.learning_rate, b1=c.beta1, b2=c.beta2, eps=c.epsilon)

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
        return self.model.apply(variables, x, train=False)

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
        (loss, _), grads = jax.value_and_grad(self._loss, has_aux=True)(
            self.params, self.batch_stats, self.key, *batch
        )
        return float(loss), _canonical(grads, self.shapes)

    def parameters(self) -> Arrays:
        return _canonical(self.params, self.shapes)


ADAPTER = JaxAdapter
