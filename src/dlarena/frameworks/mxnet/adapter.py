"""Apache MXNet: Gluon HybridSequential for a chain (else a HybridBlock over the spec's graph)
and a Gluon Trainer;
'compiled' is hybridize(static_alloc=True, static_shape=True). Runs on numpy 1.23."""

from __future__ import annotations

import math
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.records import Setup
from dlarena.spec.graph import fused_activations, is_chain
from dlarena.spec.model import ATTENTION_PARTS, INPUT, Layer, Workload
from dlarena.spec.shapes import infer_shapes

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


def _parameter(block: gluon.Block, kind: str) -> Any:
    found = block
    for name in _GLUON_PATHS[kind]:
        found = getattr(found, name)
    return found


def _block(
    layer: Layer, in_shape: tuple[int, ...], workload: Workload, activation: str | None = None
) -> gluon.Block | None:
    channels = in_shape[-1]
    if layer.op == "embedding":
        seq, units = workload.input_shape[0], layer.attr("units")
        return TokenEmbedding(workload.vocab_size, seq, units, layer.attr("positions"))
    if layer.op == "layer_norm":
        return nn.LayerNorm(axis=-1, epsilon=layer.attr("epsilon"), in_channels=channels)
    if layer.op == "lstm":
        return Recurrent(channels, layer.attr("units"), layer.attr("sequence"))
    if layer.op == "embedding_bag":
        return Bag(*(layer.attr(k) for k in ("vocab", "units", "start", "size", "mode")))
    if layer.op == "dot_interaction":
        return DotInteraction(len(layer.inputs))
    if layer.op == "attention":
        heads, mask, bias = layer.attr("heads"), layer.attr("mask"), layer.attr("bias")
        return SelfAttention(channels, heads, in_shape[0], mask, bias)
    if layer.op == "dense":
        return nn.Dense(
            layer.attr("units"),
            activation=activation,
            use_bias=layer.attr("bias"),
            in_units=channels,
            flatten=False,
        )
    if layer.op == "conv2d":
        return nn.Conv2D(
            layer.attr("filters"),
            layer.attr("kernel"),
            strides=layer.attr("stride"),
            padding=layer.attr("padding"),
            use_bias=layer.attr("bias"),
            in_channels=channels,
        )
    if layer.op == "batch_norm":
        return nn.BatchNorm(
            axis=1,
            momentum=layer.attr("momentum"),
            epsilon=layer.attr("epsilon"),
            in_channels=channels,
        )
    if layer.op == "max_pool":  # MXNet's max pool pads with -inf
        return nn.MaxPool2D(
            pool_size=layer.attr("size"),
            strides=layer.attr("stride"),
            padding=layer.attr("padding"),
        )
    if layer.op == "avg_pool":
        return nn.AvgPool2D(pool_size=layer.attr("size"), strides=layer.attr("stride"))
    return None


def _function(layer: Layer, image: bool) -> Any:
    """The op of a layer without weights: (F, inputs) -> output; `image`: NCHW inputs."""
    op = layer.op
    if op == "slice":
        start = layer.attr("start")
        end = start + layer.attr("size")
        return lambda F, ins: F.slice_axis(ins[0], axis=1, begin=start, end=end)
    if op in ("flatten", "reshape"):
        shape = (0, *layer.attr("shape")) if op == "reshape" else (0, -1)
        nhwc = op == "flatten" and image
        return lambda F, ins: F.reshape(
            F.transpose(ins[0], axes=(0, 2, 3, 1)) if nhwc else ins[0], shape=shape
        )
    if op == "concat":
        return lambda F, ins: F.concat(*ins, dim=1 if image else -1)
    if op == "dropout":  # as gluon.nn.Dropout: active inside autograd.record()
        rate = layer.attr("rate")
        return lambda F, ins: F.Dropout(ins[0], p=rate) if rate > 0 else ins[0]
    functions = {
        "add": lambda F, ins: ins[0] + ins[1],
        "global_avg_pool": lambda F, ins: F.mean(ins[0], axis=(2, 3)),
        "first_token": lambda F, ins: _first_token(F, ins[0]),
        "gelu": lambda F, ins: F.LeakyReLU(ins[0], act_type="gelu"),  # erf-based GELU
        "gelu_tanh": lambda F, ins: _gelu_tanh(F, ins[0]),
    }
    return functions.get(op, lambda F, ins: F.Activation(ins[0], act_type=op))


def _stateless(layer: Layer, image: bool) -> gluon.HybridBlock:
    if layer.op == "dropout":  # active inside autograd.record(), as training steps run
        return nn.Dropout(layer.attr("rate"))
    if layer.op == "gelu":
        return nn.GELU()  # erf-based
    if layer.op in ("relu", "tanh", "sigmoid"):
        return nn.Activation(layer.op)
    function = _function(layer, image)
    return nn.HybridLambda(lambda F, x: function(F, [x]))


class SpecAdam(mx.optimizer.Optimizer):
    """Adam as the spec (and PyTorch and Optax) define it: epsilon added to sqrt(v_hat).

    MXNet's own 'adam' adds epsilon before the bias correction ("epsilon hat"): 2.6e-4 from the
    spec after three steps of `kitchen`, past the parity gate.
    """

    def __init__(self, learning_rate: float, beta1: float, beta2: float, epsilon: float):
        super().__init__(learning_rate=learning_rate)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index: int, weight: Any) -> Any:
        zeros = mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)
        return zeros, zeros.copy()

    def update(self, index: int, weight: Any, grad: Any, state: Any) -> None:
        self._update_count(index)
        step = self._index_update_count[index]
        grad = grad * self.rescale_grad
        m, v = state
        m[:] = self.beta1 * m + (1 - self.beta1) * grad
        v[:] = self.beta2 * v + (1 - self.beta2) * mx.nd.square(grad)
        m_hat = m / (1 - self.beta1**step)
        v_hat = v / (1 - self.beta2**step)
        weight[:] -= self._get_lr(index) * m_hat / (mx.nd.sqrt(v_hat) + self.epsilon)


def build_net(workload: Workload) -> tuple[gluon.HybridBlock, dict[str, gluon.Block]]:
    """A chain as HybridSequential (relu and tanh fused into Dense), any other graph as a
    GraphBlock; and the block behind each layer that has parameters."""
    if not is_chain(workload):
        graph = GraphBlock(workload)
        return graph, graph.named
    shapes = infer_shapes(workload)
    by_name = {layer.name: layer for layer in workload.layers}
    fused = {
        dense: by_name[act].op
        for dense, act in fused_activations(workload).items()
        if by_name[act].op in ("relu", "tanh", "sigmoid")
    }
    net, named = nn.HybridSequential(), {}
    for layer in workload.layers:
        if layer.inputs[0] in fused:
            continue  # this activation runs inside the dense layer before it
        block = _block(layer, shapes[layer.inputs[0]], workload, fused.get(layer.name))
        if block is None:
            block = _stateless(layer, len(shapes[layer.inputs[0]]) == 3)
        else:
            named[layer.name] = block
        net.add(block)
    return net, named


class GraphBlock(gluon.HybridBlock):
    """The spec's layer graph as one hybridizable block (NCHW inside)."""

    def __init__(self, workload: Workload):
        super().__init__()
        shapes = infer_shapes(workload)
        self.spec_layers = workload.layers
        self.named: dict[str, gluon.Block] = {}  # blocks with their own parameters
        self.tied: dict[str, gluon.Block] = {}
        self.functions = {
            layer.name: _function(layer, len(shapes[layer.inputs[0]]) == 3)
            for layer in self.spec_layers
        }
        with self.name_scope():
            for layer in self.spec_layers:
                block = _block(layer, shapes[layer.inputs[0]], workload)
                if block is not None:
                    self.register_child(block, layer.name)
                    self.named[layer.name] = block
                elif layer.op == "tied_logits":
                    tied = TiedLogits(self.named[layer.attr("embedding")])
                    self.register_child(tied, layer.name)
                    self.tied[layer.name] = tied

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        values = {INPUT: x}
        for layer in self.spec_layers:
            ins = [values[name] for name in layer.inputs]
            values[layer.name] = self._apply(F, layer, ins)
        return values[self.spec_layers[-1].name]

    def _apply(self, F: Any, layer: Layer, ins: list[Any]) -> Any:
        if layer.name in self.named:
            return self.named[layer.name](*ins)  # a second input is attention's token ids
        if layer.name in self.tied:
            return self.tied[layer.name](ins[0])
        return self.functions[layer.name](F, ins)


def _to_mxnet(key: str, value: np.ndarray, context: mx.Context) -> mx.nd.NDArray:
    if key.endswith("kernel"):
        value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
    return mx.nd.array(np.ascontiguousarray(value), ctx=context)


def _to_canonical(key: str, value: mx.nd.NDArray) -> np.ndarray:
    array = value.asnumpy()
    if key.endswith("kernel"):
        array = array.T if array.ndim == 2 else array.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(array)


class MxnetAdapter(TrainingAdapter):
    @classmethod
    def forget(cls) -> None:
        mx.nd.waitall()  # MXNet keeps nothing across models once their work is done

    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        # Threads come from OMP_NUM_THREADS, set by the launcher before this process started.
        return Setup(
            framework_version=mx.__version__,
            device=str(mx.gpu(0) if device == "gpu" else mx.cpu()),
            intra_op_threads=intra_op,
            extras=(("mkldnn", str(mx.runtime.Features().is_enabled("MKLDNN"))),),
        )

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        self.context = mx.gpu(0) if setup.device.startswith("gpu") else mx.cpu()
        self.net, named = build_net(workload)
        self.net.initialize(ctx=self.context)
        for block in named.values():
            if isinstance(block, Recurrent):
                block.freeze()
        self.params = {}
        for key, value in weights.items():
            layer, kind = key.rsplit(".", 1)
            param = _parameter(named[layer], kind)
            param.set_data(_to_mxnet(key, value, self.context))
            self.params[key] = param
        self.trainable = {k: p for k, p in self.params.items() if p.grad_req != "null"}
        self.trainer = gluon.Trainer(self.net.collect_params(), *self._optimizer(workload))
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        if tier == "compiled":
            self.net.hybridize(static_alloc=True, static_shape=True)

    @staticmethod
    def _optimizer(workload: Workload) -> tuple[Any, dict[str, float]]:
        c = workload.optimizer
        if c.name == "sgd":
            return "sgd", {"learning_rate": c.learning_rate, "momentum": c.momentum}
        return SpecAdam(c.learning_rate, c.beta1, c.beta2, c.epsilon), {}

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        return (  # token ids as float32 too: Gluon's Embedding reads them so
            mx.nd.array(np.ascontiguousarray(x), ctx=self.context, dtype=np.float32),
            mx.nd.array(y.astype(np.float32), ctx=self.context),
        )

    def infer(self, batch: Any) -> Any:
        return self.net(batch[0])

    def _loss(self, batch: Any) -> Any:
        """Per-sample losses, backpropagated (their sum: Trainer.step divides by the batch)."""
        with autograd.record():
            losses = self.loss_fn(self.net(batch[0]), batch[1])
        losses.backward()
        return losses

    def train_step(self, batch: Any) -> Any:
        losses = self._loss(batch)
        self.trainer.step(batch[0].shape[0])
        return losses

    def sync(self, handle: Any) -> None:
        mx.nd.waitall()  # MXNet's engine is asynchronous: wait for every pending op

    def to_numpy(self, handle: Any) -> np.ndarray:
        value = handle.asnumpy()
        return value if value.ndim > 1 else np.asarray(value.mean())  # logits, or the mean loss

    def allocator_peak_mb(self) -> float | None:
        return None  # MXNet reports free and total device memory, never a peak

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        losses = self._loss(batch)
        rows = batch[0].shape[0]  # the backward pass summed over the rows
        return float(losses.mean().asscalar()), {
            k: _to_canonical(k, p.grad(self.context)) / rows for k, p in self.trainable.items()
        }

    def parameters(self) -> Arrays:
        return {k: _to_canonical(k, p.data(self.context)) for k, p in self.trainable.items()}


ADAPTER = MxnetAdapter
