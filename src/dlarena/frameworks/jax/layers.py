"""JAX: the spec's layer graph as one Flax linen module (NHWC, as Flax expects), with the
modules Flax has no layer for (token embedding with positions, embedding bags) and the
functions of the ops without parameters."""

from __future__ import annotations

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
    dtype: Any = jnp.float32  # the compute type; parameters stay float32

    def setup(self) -> None:
        self.table = nn.Embed(self.vocab, self.units, dtype=self.dtype)
        if self.positions:
            self.position_table = self.param(
                "positions", nn.initializers.zeros, (self.seq, self.units)
            )

    def __call__(self, ids: jax.Array) -> jax.Array:
        out = self.table(ids)
        return out + self.position_table.astype(self.dtype) if self.positions else out

    def attend(self, x: jax.Array) -> jax.Array:
        return self.table.attend(x)


class Bag(nn.Module):
    """nn.Embed over a bag of id columns [start, start + size), summed or averaged."""

    vocab: int
    units: int
    start: int
    size: int
    mode: str
    dtype: Any = jnp.float32

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


class GraphModule(nn.Module):
    """The spec's layer graph (NHWC, as Flax expects)."""

    layers: tuple[Layer, ...]
    vocab_size: int = 0
    # the compute type (Flax's `dtype`: a layer casts its inputs and float32 parameters to it;
    # normalizations keep float32 statistics)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        values = {INPUT: x}
        embeddings: dict[str, TokenEmbedding] = {}  # for a tied head
        for layer in self.layers:
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
        return values[self.layers[-1].name]

    def _apply(self, layer: Layer, ins: list[jax.Array], train: bool) -> jax.Array:
        x = ins[0]
        if layer.op == "dense":
            return nn.Dense(
                layer.attr("units"), use_bias=layer.attr("bias"), dtype=self.dtype, name=layer.name
            )(x)
        if layer.op == "conv2d":
            k, s, p = layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
            return nn.Conv(
                layer.attr("filters"),
                (k, k),
                strides=(s, s),
                padding=[(p, p), (p, p)],
                feature_group_count=layer.attr("groups"),
                use_bias=layer.attr("bias"),
                dtype=self.dtype,
                name=layer.name,
            )(x)
        if layer.op == "batch_norm":
            return nn.BatchNorm(
                use_running_average=not train,
                momentum=layer.attr("momentum"),
                epsilon=layer.attr("epsilon"),
                dtype=self.dtype,
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
            return nn.LayerNorm(epsilon=layer.attr("epsilon"), dtype=self.dtype, name=layer.name)(x)
        if layer.op == "attention":
            return _attention(layer, ins, self.dtype)
        if layer.op == "first_token":
            return x[:, 0]
        if layer.op == "scale":
            return x * layer.attr("factor")
        if layer.op == "dropout":  # its masks draw from the 'dropout' rng of a training step
            return nn.Dropout(layer.attr("rate"), deterministic=not train)(x)
        if layer.op == "embedding_bag":
            attrs = (layer.attr(k) for k in ("vocab", "units", "start", "size", "mode"))
            return Bag(*attrs, dtype=self.dtype, name=layer.name)(x)
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
            cell = nn.LSTMCell(layer.attr("units"), dtype=self.dtype, name=cell_scope(layer.name))
            out = nn.RNN(cell, name=layer.name)(x)
            return out if layer.attr("sequence") else out[:, -1]
        return ACTIVATIONS[layer.op](x)
