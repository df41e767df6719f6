"""JAX: the spec's layer graph as one Flax linen module (NHWC, as Flax expects), with the
modules Flax has no layer for (token embedding with positions, embedding bags) and the
functions of the ops without parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from dlarena.spec.model import INPUT, Layer

ACTIVATIONS = {
    "relu": nn.relu,
    "relu6": jax.nn.relu6,
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
}


class TokenEmbedding(nn.Module):
    """nn.Embed plus learned absolute positions; `attend` is the tied head (nn.Embed.attend)."""

    vocab: int
    seq: int
    units: int
    positions: bool
    dtype: Any = None  # the compute type (None: Flax's default); parameters stay float32

    def setup(self) -> None:
        self.table = nn.Embed(self.vocab, self.units, dtype=self.dtype)
        if self.positions:
            self.position_table = self.param(
                "positions", nn.initializers.zeros, (self.seq, self.units)
            )

    def __call__(self, ids: jax.Array) -> jax.Array:
        out = self.table(ids)
        if not self.positions:
            return out
        return out + (
            self.position_table if self.dtype is None else self.position_table.astype(self.dtype)
        )

    def attend(self, x: jax.Array) -> jax.Array:
        return self.table.attend(x)


class Bag(nn.Module):
    """nn.Embed over a bag of id columns [start, start + size), summed or averaged."""

    vocab: int
    units: int
    start: int
    size: int
    mode: str
    dtype: Any = None

    def setup(self) -> None:
        self.table = nn.Embed(self.vocab, self.units, dtype=self.dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        rows = self.table(x[:, self.start : self.start + self.size].astype(jnp.int32))
        return rows.mean(axis=1) if self.mode == "mean" else rows.sum(axis=1)


def _interaction(ins: list[jax.Array]) -> jax.Array:
    """DLRM's interaction: the first vector, then every pairwise dot product (i < j)."""
    z = jnp.stack(ins, axis=1)
    i, j = np.triu_indices(len(ins), k=1)
    return jnp.concatenate([ins[0], jnp.einsum("bfd,bgd->bfg", z, z)[:, i, j]], axis=-1)


def _attention(layer: Layer, ins: list[jax.Array], dtype: Any) -> jax.Array:
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
        dtype=dtype,
        name=layer.name,
    )(x, mask=mask)


def cell_scope(layer: str) -> str:
    """Where an LSTM layer's cell keeps its parameters: params[f"{layer}_cell"]."""
    return f"{layer}_cell"


@dataclasses.dataclass(frozen=True)
class Graph:
    """The spec's layers as one attribute Flax does not look inside: it walks a module's tuple,
    list and dict attributes for submodules at every call (freezing them, flattening them to
    state dicts), which for the tuple of layers was about 650 of an eager mlp step's 93,000
    Python calls."""

    layers: tuple[Layer, ...]


class GraphModule(nn.Module):
    """The spec's layer graph (NHWC, as Flax expects)."""

    graph: Graph
    vocab_size: int = 0
    # the compute type (Flax's `dtype`: a layer casts its inputs and float32 parameters to it;
    # normalizations keep float32 statistics; None: Flax's default, float32 here)
    dtype: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        values = {INPUT: x}
        embeddings: dict[str, TokenEmbedding] = {}  # for a tied head
        for layer in self.graph.layers:
            ins = [values[n] for n in layer.inputs]
            if layer.op == "embedding":
                seq, units, positions = x.shape[1], layer.attr("units"), layer.attr("positions")
                embeddings[layer.name] = TokenEmbedding(
                    self.vocab_size, seq, units, positions, self.dtype, name=layer.name
                )
                values[layer.name] = embeddings[layer.name](ins[0])
            elif layer.op == "tied_logits":
                values[layer.name] = embeddings[layer.attr("embedding")].attend(ins[0])
            else:
                values[layer.name] = self._apply(layer, ins, train)
        return values[self.graph.layers[-1].name]

    def _apply(self, layer: Layer, ins: list[jax.Array], train: bool) -> jax.Array:
        """One layer inside this module's scope: its op's function, or an activation."""
        op = _OPS.get(layer.op)
        if op is None:
            return ACTIVATIONS[layer.op](ins[0])
        return op(layer, ins, Call(self.dtype, train))


@dataclasses.dataclass(frozen=True)
class Call:
    """How a layer is called: its compute type, and whether this is a training step."""

    dtype: Any
    train: bool


def _conv(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    k, s, p = la.attr("kernel"), la.attr("stride"), la.attr("padding")
    return nn.Conv(
        la.attr("filters"), (k, k), strides=(s, s), padding=[(p, p), (p, p)],
        feature_group_count=la.attr("groups"), use_bias=la.attr("bias"), dtype=c.dtype,
        name=la.name,
    )(ins[0])  # fmt: skip


def _batch_norm(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    return nn.BatchNorm(
        use_running_average=not c.train, momentum=la.attr("momentum"),
        epsilon=la.attr("epsilon"), dtype=c.dtype, name=la.name,
    )(ins[0])  # fmt: skip


def _pool(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    k, s = la.attr("size"), la.attr("stride")
    if la.op == "avg_pool":
        return nn.avg_pool(ins[0], (k, k), strides=(s, s), padding="VALID")
    p = la.attr("padding")  # nn.max_pool pads with -inf
    return nn.max_pool(ins[0], (k, k), strides=(s, s), padding=((p, p), (p, p)))


def _bag(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    attrs = (la.attr(k) for k in ("vocab", "units", "start", "size", "mode"))
    return Bag(*attrs, dtype=c.dtype, name=la.name)(ins[0])


def _lstm(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    # the cell lives in this scope under its own name: params[f"{layer}_cell"]
    cell = nn.LSTMCell(la.attr("units"), dtype=c.dtype, name=cell_scope(la.name))
    out = nn.RNN(cell, name=la.name)(ins[0])
    return out if la.attr("sequence") else out[:, -1]


def _reshape(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    shape = tuple(la.attr("shape")) if la.op == "reshape" else (-1,)
    return ins[0].reshape(len(ins[0]), *shape)


def _slice(la: Layer, ins: list[jax.Array], c: Call) -> jax.Array:
    start = la.attr("start")
    return ins[0][:, start : start + la.attr("size")]


# op -> its function inside GraphModule's scope (the modules it makes are named after the
# layer); any other op is an activation; embeddings and tied heads are GraphModule's own
_OPS: dict[str, Callable[[Layer, list[jax.Array], Call], jax.Array]] = {
    "dense": lambda la, ins, c: nn.Dense(
        la.attr("units"), use_bias=la.attr("bias"), dtype=c.dtype, name=la.name
    )(ins[0]),
    "conv2d": _conv,
    "batch_norm": _batch_norm,
    "max_pool": _pool,
    "avg_pool": _pool,
    "add": lambda la, ins, c: ins[0] + ins[1],
    "global_avg_pool": lambda la, ins, c: jnp.mean(ins[0], axis=(1, 2)),
    "layer_norm": lambda la, ins, c: nn.LayerNorm(
        epsilon=la.attr("epsilon"), dtype=c.dtype, name=la.name
    )(ins[0]),
    "attention": lambda la, ins, c: _attention(la, ins, c.dtype),
    "first_token": lambda la, ins, c: ins[0][:, 0],
    "scale": lambda la, ins, c: ins[0] * la.attr("factor"),
    # its masks draw from the 'dropout' rng of a training step
    "dropout": lambda la, ins, c: nn.Dropout(la.attr("rate"), deterministic=not c.train)(ins[0]),
    "embedding_bag": _bag,
    "slice": _slice,
    "concat": lambda la, ins, c: jnp.concatenate(ins, axis=-1),
    "dot_interaction": lambda la, ins, c: _interaction(ins),
    "flatten": _reshape,
    "reshape": _reshape,
    "lstm": _lstm,
}
