"""Apache MXNet: each spec layer as a Gluon block (NCHW inside): the blocks with parameters
(_block), the stateless ops (_function, _stateless) and where each canonical weight lives."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from dlarena.spec.model import ATTENTION_PARTS, Layer, Workload

# canonical kind -> attribute path from the layer's block to its Gluon Parameter
_GLUON_PATHS = {
    "kernel": ("weight",),
    "bias": ("bias",),
    "gamma": ("gamma",),
    "beta": ("beta",),
    "moving_mean": ("running_mean",),
    "moving_var": ("running_var",),
    "table": ("table", "weight"),
    "input_kernel": ("lstm", "l0_i2h_weight"),
    "recurrent_kernel": ("lstm", "l0_h2h_weight"),
    "gate_bias": ("lstm", "l0_i2h_bias"),
    "positions": ("positions",),
    **{
        f"{part}_{kind}": (part, name)
        for part in ATTENTION_PARTS
        for kind, name in (("kernel", "weight"), ("bias", "bias"))
    },
}
_MASKED = -1e9  # added to a masked score: exp() of it is exactly 0 in float32
_GELU_C = math.sqrt(2.0 / math.pi)


class TokenEmbedding(gluon.HybridBlock):
    """nn.Embedding plus learned absolute positions (ids arrive as float32, MXNet's way)."""

    def __init__(self, vocab: int, seq: int, units: int, positions: bool):
        super().__init__()
        with self.name_scope():
            self.table = nn.Embedding(vocab, units)
            self.positions = self.params.get("positions", shape=(seq, units)) if positions else None

    def hybrid_forward(self, F: Any, ids: Any, positions: Any = None) -> Any:
        out = self.table(ids)
        return out if positions is None else F.broadcast_add(out, F.expand_dims(positions, 0))


class SelfAttention(gluon.HybridBlock):
    """Multi-head self-attention from Dense projections and batch_dot (Gluon 1.x has no
    attention layer); a masked score gets _MASKED before the softmax."""

    def __init__(self, units: int, heads: int, seq: int, mask: str, bias: bool):
        super().__init__()
        self.heads, self.scale, self.mask = heads, 1.0 / math.sqrt(units // heads), mask
        with self.name_scope():
            for part in ATTENTION_PARTS:
                dense = nn.Dense(units, use_bias=bias, in_units=units, flatten=False)
                setattr(self, part, dense)
            if mask == "causal":
                causal = (1.0 - np.tril(np.ones((seq, seq), np.float32))) * _MASKED
                self.causal = self.params.get_constant("causal", causal[None, None])

    def hybrid_forward(self, F: Any, x: Any, ids: Any = None, causal: Any = None) -> Any:
        def split(t: Any) -> Any:  # (B, T, D) -> (B*H, T, D/H)
            t = F.transpose(F.reshape(t, shape=(0, 0, self.heads, -1)), axes=(0, 2, 1, 3))
            return F.reshape(t, shape=(-3, 0, 0))

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = F.reshape(F.batch_dot(q, k, transpose_b=True) * self.scale,
                           shape=(-4, -1, self.heads, 0, 0))  # fmt: skip
        if ids is not None:  # (B, 1, 1, S): _MASKED on padded keys
            scores = F.broadcast_add(scores, F.reshape((ids == 0) * _MASKED, shape=(0, 1, 1, -1)))
        if causal is not None:
            scores = F.broadcast_add(scores, causal)
        probs = F.reshape(F.softmax(scores, axis=-1), shape=(-3, 0, 0))
        context = F.reshape(F.batch_dot(probs, v), shape=(-4, -1, self.heads, 0, 0))
        return self.o(F.reshape(F.transpose(context, axes=(0, 2, 1, 3)), shape=(0, 0, -3)))


class Recurrent(gluon.HybridBlock):
    """gluon.rnn.LSTM (batch first; gates i, f, g, o as the canonical order). MXNet keeps two
    biases (i2h and h2h): the canonical bias is i2h, h2h is zero and frozen (`freeze`)."""

    def __init__(self, inputs: int, units: int, sequence: bool):
        super().__init__()
        self.sequence = sequence
        with self.name_scope():
            self.lstm = gluon.rnn.LSTM(units, layout="NTC", input_size=inputs)

    def freeze(self) -> None:
        self.lstm.l0_h2h_bias.set_data(mx.nd.zeros(self.lstm.l0_h2h_bias.shape))
        self.lstm.l0_h2h_bias.grad_req = "null"

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        out = self.lstm(x)
        if self.sequence:
            return out
        return F.reshape(F.slice_axis(out, axis=1, begin=-1, end=None), shape=(0, -1))


class Bag(gluon.HybridBlock):
    """nn.Embedding over a bag of id columns [start, start + size), summed or averaged."""

    def __init__(self, vocab: int, units: int, start: int, size: int, mode: str):
        super().__init__()
        self.columns, self.mode = (start, start + size), mode
        with self.name_scope():
            self.table = nn.Embedding(vocab, units)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        begin, end = self.columns
        rows = self.table(F.slice_axis(x, axis=1, begin=begin, end=end))
        return F.mean(rows, axis=1) if self.mode == "mean" else F.sum(rows, axis=1)


class DotInteraction(gluon.HybridBlock):
    """DLRM's interaction: the first vector, then every pairwise dot product (i < j), picked
    from the flattened Gram matrix by a constant index."""

    def __init__(self, count: int):
        super().__init__()
        i, j = np.triu_indices(count, k=1)
        with self.name_scope():
            self.pairs = self.params.get_constant("pairs", (i * count + j).astype(np.float32))

    def hybrid_forward(self, F: Any, *ins: Any, pairs: Any = None) -> Any:
        z = F.stack(*ins, axis=1)
        gram = F.reshape(F.batch_dot(z, z, transpose_b=True), shape=(0, -1))
        return F.concat(ins[0], F.take(gram, pairs, axis=1), dim=-1)


class TiedLogits(gluon.HybridBlock):
    """Logits from the token embedding's own table: the same Parameter, shared (GPT-2's tied
    head); FullyConnected's weight is (out, in), which the (vocab, units) table already is."""

    def __init__(self, source: TokenEmbedding):
        super().__init__()
        self.vocab = source.table.weight.shape[0]
        self.weight = source.table.weight

    def hybrid_forward(self, F: Any, x: Any, weight: Any) -> Any:
        return F.FullyConnected(x, weight, no_bias=True, num_hidden=self.vocab, flatten=False)


def _gelu_tanh(F: Any, x: Any) -> Any:
    return 0.5 * x * (1.0 + F.tanh(_GELU_C * (x + 0.044715 * x * x * x)))


def _first_token(F: Any, x: Any) -> Any:
    return F.reshape(F.slice_axis(x, axis=1, begin=0, end=1), shape=(0, -1))


def parameter(block: gluon.Block, kind: str) -> Any:
    found = block
    for name in _GLUON_PATHS[kind]:
        found = getattr(found, name)
    return found


Shape = tuple[int, ...]


def _dense(la: Layer, shape: Shape, w: Workload, activation: str | None) -> gluon.Block:
    units, bias = la.attr("units"), la.attr("bias")
    return nn.Dense(units, activation=activation, use_bias=bias, in_units=shape[-1], flatten=False)


def _conv(la: Layer, shape: Shape, w: Workload, activation: str | None) -> gluon.Block:
    return nn.Conv2D(
        la.attr("filters"), la.attr("kernel"), strides=la.attr("stride"),
        padding=la.attr("padding"), groups=la.attr("groups"), use_bias=la.attr("bias"),
        in_channels=shape[-1],
    )  # fmt: skip


def _attention(la: Layer, shape: Shape, w: Workload, activation: str | None) -> gluon.Block:
    heads, mask, bias = la.attr("heads"), la.attr("mask"), la.attr("bias")
    return SelfAttention(shape[-1], heads, shape[0], mask, bias)


# op with parameters (or a block of its own) -> its Gluon block, from the layer, its input's
# shape (channels last), the workload and the activation a dense layer carries
_BLOCKS: dict[str, Callable[[Layer, Shape, Workload, str | None], gluon.Block]] = {
    "embedding": lambda la, shape, w, act: TokenEmbedding(
        w.vocab_size, w.input_shape[0], la.attr("units"), la.attr("positions")
    ),
    "layer_norm": lambda la, shape, w, act: nn.LayerNorm(
        axis=-1, epsilon=la.attr("epsilon"), in_channels=shape[-1]
    ),
    "lstm": lambda la, shape, w, act: Recurrent(shape[-1], la.attr("units"), la.attr("sequence")),
    "embedding_bag": lambda la, shape, w, act: Bag(
        *(la.attr(k) for k in ("vocab", "units", "start", "size", "mode"))
    ),
    "dot_interaction": lambda la, shape, w, act: DotInteraction(len(la.inputs)),
    "attention": _attention,
    "dense": _dense,
    "conv2d": _conv,
    "batch_norm": lambda la, shape, w, act: nn.BatchNorm(
        axis=1, momentum=la.attr("momentum"), epsilon=la.attr("epsilon"), in_channels=shape[-1]
    ),
    # MXNet's max pool pads with -inf
    "max_pool": lambda la, shape, w, act: nn.MaxPool2D(
        pool_size=la.attr("size"), strides=la.attr("stride"), padding=la.attr("padding")
    ),
    "avg_pool": lambda la, shape, w, act: nn.AvgPool2D(
        pool_size=la.attr("size"), strides=la.attr("stride")
    ),
}


def block_of(
    layer: Layer, in_shape: Shape, workload: Workload, activation: str | None = None
) -> gluon.Block | None:
    """The block of a layer that has one (None: a function of its inputs, `stateless`)."""
    make = _BLOCKS.get(layer.op)
    return make(layer, in_shape, workload, activation) if make is not None else None


def _slice(layer: Layer, image: bool) -> Any:
    start = layer.attr("start")
    end = start + layer.attr("size")
    return lambda F, ins: F.slice_axis(ins[0], axis=1, begin=start, end=end)


def _reshape(layer: Layer, image: bool) -> Any:
    """NHWC order first where an image is flattened (MXNet's images are NCHW)."""
    op = layer.op
    shape = (0, *layer.attr("shape")) if op == "reshape" else (0, -1)
    nhwc = op == "flatten" and image
    return lambda F, ins: F.reshape(
        F.transpose(ins[0], axes=(0, 2, 3, 1)) if nhwc else ins[0], shape=shape
    )


def _scale(layer: Layer, image: bool) -> Any:
    factor = layer.attr("factor")
    return lambda F, ins: ins[0] * factor


def _dropout(layer: Layer, image: bool) -> Any:
    """As gluon.nn.Dropout: active inside autograd.record()."""
    rate = layer.attr("rate")
    return lambda F, ins: F.Dropout(ins[0], p=rate) if rate > 0 else ins[0]


# The ops without weights, each (layer, image) -> (F, inputs) -> output; an op not here is an
# MXNet activation of its name (relu, tanh, sigmoid)
_FUNCTIONS: dict[str, Callable[[Layer, bool], Any]] = {
    "slice": _slice,
    "flatten": _reshape,
    "reshape": _reshape,
    "concat": lambda layer, image: lambda F, ins: F.concat(*ins, dim=1 if image else -1),
    "scale": _scale,
    "dropout": _dropout,
    "add": lambda layer, image: lambda F, ins: ins[0] + ins[1],
    "global_avg_pool": lambda layer, image: lambda F, ins: F.mean(ins[0], axis=(2, 3)),
    "first_token": lambda layer, image: lambda F, ins: _first_token(F, ins[0]),
    # erf-based GELU
    "gelu": lambda layer, image: lambda F, ins: F.LeakyReLU(ins[0], act_type="gelu"),
    "gelu_tanh": lambda layer, image: lambda F, ins: _gelu_tanh(F, ins[0]),
    "relu6": lambda layer, image: lambda F, ins: F.clip(ins[0], 0.0, 6.0),
}


def function_of(layer: Layer, image: bool) -> Any:
    """The op of a layer without weights: (F, inputs) -> output; `image`: NCHW inputs."""
    make = _FUNCTIONS.get(layer.op)
    if make is None:
        return lambda F, ins: F.Activation(ins[0], act_type=layer.op)
    return make(layer, image)


def stateless(layer: Layer, image: bool) -> gluon.HybridBlock:
    if layer.op == "dropout":  # active inside autograd.record(), as training steps run
        return nn.Dropout(layer.attr("rate"))
    if layer.op == "gelu":
        return nn.GELU()  # erf-based
    if layer.op in ("relu", "tanh", "sigmoid"):
        return nn.Activation(layer.op)
    function = function_of(layer, image)
    return nn.HybridLambda(lambda F, x: function(F, [x]))
