"""TensorFlow: each spec layer as the Keras 3 layer a TensorFlow user writes (custom layers
where Keras has none: token embedding with positions, self-attention as one block, tied logits,
embedding bags, dot interaction), and the Keras variables behind each canonical weight."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.frameworks.tensorflow.backend import keras, tf
from dlarena.spec.model import ATTENTION_PARTS, Layer, Workload

WEIGHTED = (
    "dense", "conv2d", "batch_norm", "layer_norm", "embedding", "attention", "lstm", "embedding_bag"
)  # fmt: skip
JOINS = ("add", "concat", "dot_interaction")  # layers called with the list of their inputs

_ACTIVATIONS = {
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "tanh": tf.math.tanh,
    "sigmoid": tf.math.sigmoid,
}


class TokenEmbedding(keras.layers.Layer):
    """keras.layers.Embedding plus learned absolute positions."""

    def __init__(self, vocab: int, seq: int, units: int, positions: bool, **kwargs: Any):
        super().__init__(**kwargs)
        self.table = keras.layers.Embedding(vocab, units, name="table")
        self.positions = self.add_weight((seq, units), name="positions") if positions else None

    def call(self, ids: Any) -> Any:
        out = self.table(ids)
        return out if self.positions is None else out + self.positions


class SelfAttention(keras.layers.Layer):
    """keras.layers.MultiHeadAttention over x, with a padding mask from the token ids or the
    causal mask."""

    def __init__(self, units: int, heads: int, mask: str, bias: bool, **kwargs: Any):
        super().__init__(**kwargs)
        self.causal = mask == "causal"
        self.mha = keras.layers.MultiHeadAttention(heads, units // heads, use_bias=bias)

    def call(self, x: Any, ids: Any = None) -> Any:
        mask = None
        if ids is not None:  # (batch, query, key): True where the key is a real token
            valid = keras.ops.not_equal(ids, 0)[:, None, :]
            mask = keras.ops.broadcast_to(valid, (keras.ops.shape(x)[0], x.shape[1], x.shape[1]))
        return self.mha(x, x, x, attention_mask=mask, use_causal_mask=self.causal)

    def variables_by_kind(self) -> dict[str, Any]:
        parts = zip(
            ATTENTION_PARTS,
            (self.mha._query_dense, self.mha._key_dense, self.mha._value_dense,
             self.mha._output_dense),
            strict=True,
        )  # fmt: skip
        found = {}
        for part, dense in parts:
            found[f"{part}_kernel"] = dense.kernel
            if dense.bias is not None:
                found[f"{part}_bias"] = dense.bias
        return found


class TiedLogits(keras.layers.Layer):
    """Logits from the token embedding's own table (transposed): GPT-2's tied head."""

    def __init__(self, source: TokenEmbedding, **kwargs: Any):
        super().__init__(**kwargs)
        self.source = source

    def call(self, x: Any) -> Any:
        return keras.ops.matmul(x, keras.ops.transpose(self.source.table.embeddings))


class Columns(keras.layers.Layer):
    """Columns [start, start + size) of a flat input row."""

    def __init__(self, start: int, size: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.start, self.size = start, size

    def call(self, x: Any) -> Any:
        return x[:, self.start : self.start + self.size]


class Bag(keras.layers.Layer):
    """keras.layers.Embedding over a bag of id columns, summed or averaged (TensorFlow's
    EmbeddingBag equivalent in Keras: an embedding and a reduction)."""

    def __init__(self, vocab: int, units: int, start: int, size: int, mode: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.table = keras.layers.Embedding(vocab, units, name="table")
        self.columns = Columns(start, size)
        self.reduce = keras.ops.mean if mode == "mean" else keras.ops.sum

    def call(self, x: Any) -> Any:
        return self.reduce(self.table(keras.ops.cast(self.columns(x), "int32")), axis=1)


class DotInteraction(keras.layers.Layer):
    """DLRM's interaction: the first vector, then every pairwise dot product (i < j)."""

    def call(self, ins: list) -> Any:
        count = len(ins)
        z = keras.ops.stack(ins, axis=1)
        gram = keras.ops.reshape(
            keras.ops.matmul(z, keras.ops.transpose(z, (0, 2, 1))), (-1, count * count)
        )
        i, j = np.triu_indices(count, k=1)
        return keras.ops.concatenate([ins[0], keras.ops.take(gram, i * count + j, axis=1)], axis=-1)


class MinusInfinityPadding(keras.layers.Layer):
    def __init__(self, pad: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x: Any) -> Any:
        pads = [(0, 0), (self.pad, self.pad), (self.pad, self.pad), (0, 0)]
        return keras.ops.pad(x, pads, constant_values=float("-inf"))


class FirstToken(keras.layers.Layer):
    def call(self, x: Any) -> Any:
        return x[:, 0]


@dataclasses.dataclass(frozen=True)
class Built:
    """What a layer's Keras layer is made from besides the layer itself."""

    workload: Workload
    width: int  # the features entering the layer
    activation: str | None  # an activation folded into a dense layer
    blocks: dict[str, keras.layers.Layer]  # the layers built so far (a tied head's embedding)


def _dense(layer: Layer, b: Built) -> keras.layers.Layer:
    act = _ACTIVATIONS[b.activation] if b.activation else None
    return keras.layers.Dense(
        layer.attr("units"), activation=act, use_bias=layer.attr("bias"), name=layer.name
    )


def _token_embedding(layer: Layer, b: Built) -> keras.layers.Layer:
    seq, units = b.workload.input_shape[0], layer.attr("units")
    return TokenEmbedding(
        b.workload.vocab_size, seq, units, layer.attr("positions"), name=layer.name
    )


def _attention(layer: Layer, b: Built) -> keras.layers.Layer:
    heads, mask, bias = layer.attr("heads"), layer.attr("mask"), layer.attr("bias")
    return SelfAttention(b.width, heads, mask, bias, name=layer.name)


def _bag(layer: Layer, b: Built) -> keras.layers.Layer:
    return Bag(
        *(layer.attr(k) for k in ("vocab", "units", "start", "size", "mode")), name=layer.name
    )


# op -> its Keras layer; any other op is an activation (_ACTIVATIONS)
_BUILDERS: dict[str, Callable[[Layer, Built], keras.layers.Layer]] = {
    "tied_logits": lambda la, b: TiedLogits(b.blocks[la.attr("embedding")], name=la.name),
    "embedding": _token_embedding,
    "layer_norm": lambda la, b: keras.layers.LayerNormalization(
        epsilon=la.attr("epsilon"), name=la.name
    ),
    "attention": _attention,
    "first_token": lambda la, b: FirstToken(name=la.name),
    "scale": lambda la, b: keras.layers.Rescaling(la.attr("factor"), name=la.name),
    # active where the model is called with training=True
    "dropout": lambda la, b: keras.layers.Dropout(la.attr("rate"), name=la.name),
    "slice": lambda la, b: Columns(la.attr("start"), la.attr("size"), name=la.name),
    "embedding_bag": _bag,
    "concat": lambda la, b: keras.layers.Concatenate(axis=-1, name=la.name),
    "dot_interaction": lambda la, b: DotInteraction(name=la.name),
    "flatten": lambda la, b: keras.layers.Flatten(name=la.name),
    "reshape": lambda la, b: keras.layers.Reshape(tuple(la.attr("shape")), name=la.name),
    # gates i, f, c, o: the canonical order; one bias
    "lstm": lambda la, b: keras.layers.LSTM(
        la.attr("units"), return_sequences=la.attr("sequence"), name=la.name
    ),
    "dense": _dense,
    "conv2d": lambda la, b: _conv(la),
    "batch_norm": lambda la, b: keras.layers.BatchNormalization(
        momentum=la.attr("momentum"), epsilon=la.attr("epsilon"), name=la.name
    ),
    "max_pool": lambda la, b: _pool(la),
    "avg_pool": lambda la, b: _pool(la),
    "add": lambda la, b: keras.layers.Add(name=la.name),
    "global_avg_pool": lambda la, b: keras.layers.GlobalAveragePooling2D(name=la.name),
}


def layer_of(layer: Layer, built: Built) -> keras.layers.Layer:
    """The Keras layer of one spec layer: its builder, or an activation layer."""
    make = _BUILDERS.get(layer.op)
    if make is not None:
        return make(layer, built)
    return keras.layers.Activation(_ACTIVATIONS[layer.op], name=layer.name)


def _pool(layer: Layer) -> keras.layers.Layer:
    pool = keras.layers.MaxPooling2D if layer.op == "max_pool" else keras.layers.AveragePooling2D
    pooled = pool(layer.attr("size"), strides=layer.attr("stride"), name=layer.name)
    if layer.op == "avg_pool" or not layer.attr("padding"):
        return pooled
    # Keras pads with zeros only; -inf keeps a padded cell from winning whatever the input
    return keras.Sequential([MinusInfinityPadding(layer.attr("padding")), pooled], name=layer.name)


def _conv(layer: Layer) -> keras.layers.Layer:
    """Conv2D as a Keras user writes it: padding 'same' where that is the spec's symmetric
    padding (stride 1, padding (k - 1) / 2), 'valid' without padding; otherwise explicit
    ZeroPadding2D first (Keras's 'same' pads asymmetrically at stride 2)."""
    kernel, stride, pad = layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
    same = stride == 1 and 2 * pad == kernel - 1
    conv = keras.layers.Conv2D(
        layer.attr("filters"),
        kernel,
        strides=stride,
        padding="same" if same else "valid",
        groups=layer.attr("groups"),
        use_bias=layer.attr("bias"),
        name=layer.name if same or not pad else f"{layer.name}_conv",
    )
    if same or not pad:
        return conv
    return keras.Sequential([keras.layers.ZeroPadding2D(pad), conv], name=layer.name)


def _embedding_variables(block: keras.layers.Layer) -> dict[str, Any]:
    found = {"table": block.table.embeddings}
    return found if block.positions is None else {**found, "positions": block.positions}


def _lstm_variables(block: keras.layers.Layer) -> dict[str, Any]:
    cell = block.cell
    kinds = ("input_kernel", "recurrent_kernel", "gate_bias")
    return dict(zip(kinds, (cell.kernel, cell.recurrent_kernel, cell.bias), strict=True))


def _kernel_variables(block: keras.layers.Layer) -> dict[str, Any]:
    """A dense or convolution layer's (the last of a padded convolution's Sequential)."""
    inner = block.layers[-1] if isinstance(block, keras.Sequential) else block
    found = {"kernel": inner.kernel}
    if inner.bias is not None:
        found["bias"] = inner.bias
    return found


# Each weighted op's canonical kind -> the Keras variable behind it; an op not here has a kernel
# and maybe a bias
_VARIABLES: dict[str, Callable[[keras.layers.Layer], dict[str, Any]]] = {
    "embedding_bag": lambda block: {"table": block.table.embeddings},
    "embedding": _embedding_variables,
    "layer_norm": lambda block: {"gamma": block.gamma, "beta": block.beta},
    "attention": lambda block: block.variables_by_kind(),
    "lstm": _lstm_variables,
    "batch_norm": lambda block: {
        "gamma": block.gamma,
        "beta": block.beta,
        "moving_mean": block.moving_mean,
        "moving_var": block.moving_variance,
    },
}


def variables_of(block: keras.layers.Layer, op: str) -> dict[str, Any]:
    """Canonical kind -> the Keras variable behind it (attention's kernels are (D, H, D/H) and
    (H, D/H, D) there: the same numbers as the canonical (D, D), reshaped)."""
    return _VARIABLES.get(op, _kernel_variables)(block)
