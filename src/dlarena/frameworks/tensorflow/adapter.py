"""TensorFlow: Keras 3 layers on the TensorFlow backend in a functional model, a GradientTape
train step and Keras optimizers; 'compiled' is tf.function(jit_compile=True).

Keras 3 rather than raw tf.Module: it is how TensorFlow users build models today, its layers
share the canonical layouts (NHWC, kernels (in, out) and (kh, kw, in, out)), and the step is
still plain TensorFlow (GradientTape, tf.function), so nothing hides what is being timed.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # must precede the first keras import

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlarena.frameworks.base import Arrays, TrainingAdapter  # noqa: E402
from dlarena.records import Setup  # noqa: E402
from dlarena.spec.graph import fused_activations  # noqa: E402
from dlarena.spec.model import ATTENTION_PARTS, INPUT, Layer, Workload  # noqa: E402
from dlarena.spec.shapes import infer_shapes  # noqa: E402

_WEIGHTED = (
    "dense", "conv2d", "batch_norm", "layer_norm", "embedding", "attention", "lstm", "embedding_bag"
)  # fmt: skip
_JOINS = ("add", "concat", "dot_interaction")  # layers called with the list of their inputs

_ACTIVATIONS = {
    "relu": tf.nn.relu,
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


def _layer(
    layer: Layer,
    workload: Workload,
    width: int,
    activation: str | None = None,
    blocks: dict[str, keras.layers.Layer] | None = None,
) -> keras.layers.Layer:
    name = layer.name
    if layer.op == "tied_logits":
        return TiedLogits((blocks or {})[layer.attr("embedding")], name=name)
    if layer.op == "embedding":
        seq, units = workload.input_shape[0], layer.attr("units")
        return TokenEmbedding(workload.vocab_size, seq, units, layer.attr("positions"), name=name)
    if layer.op == "layer_norm":
        return keras.layers.LayerNormalization(epsilon=layer.attr("epsilon"), name=name)
    if layer.op == "attention":
        heads, mask, bias = layer.attr("heads"), layer.attr("mask"), layer.attr("bias")
        return SelfAttention(width, heads, mask, bias, name=name)
    if layer.op == "first_token":
        return FirstToken(name=name)
    if layer.op == "dropout":  # active where the model is called with training=True
        return keras.layers.Dropout(layer.attr("rate"), name=name)
    if layer.op == "slice":
        return Columns(layer.attr("start"), layer.attr("size"), name=name)
    if layer.op == "embedding_bag":
        attrs = (layer.attr(k) for k in ("vocab", "units", "start", "size", "mode"))
        return Bag(*attrs, name=name)
    if layer.op == "concat":
        return keras.layers.Concatenate(axis=-1, name=name)
    if layer.op == "dot_interaction":
        return DotInteraction(name=name)
    if layer.op == "flatten":
        return keras.layers.Flatten(name=name)
    if layer.op == "reshape":
        return keras.layers.Reshape(tuple(layer.attr("shape")), name=name)
    if layer.op == "lstm":  # gates i, f, c, o: the canonical order; one bias
        return keras.layers.LSTM(
            layer.attr("units"), return_sequences=layer.attr("sequence"), name=name
        )
    if layer.op == "dense":
        return keras.layers.Dense(
            layer.attr("units"),
            activation=_ACTIVATIONS[activation] if activation else None,
            use_bias=layer.attr("bias"),
            name=name,
        )
    if layer.op == "conv2d":
        return _conv(layer)
    if layer.op == "batch_norm":
        return keras.layers.BatchNormalization(
            momentum=layer.attr("momentum"), epsilon=layer.attr("epsilon"), name=name
        )
    if layer.op in ("max_pool", "avg_pool"):
        pool = (
            keras.layers.MaxPooling2D if layer.op == "max_pool" else keras.layers.AveragePooling2D
        )
        pooled = pool(layer.attr("size"), strides=layer.attr("stride"), name=name)
        if layer.op == "avg_pool" or not layer.attr("padding"):
            return pooled
        # Keras pads with zeros only; -inf keeps a padded cell from winning whatever the input
        return keras.Sequential([MinusInfinityPadding(layer.attr("padding")), pooled], name=name)
    if layer.op == "add":
        return keras.layers.Add(name=name)
    if layer.op == "global_avg_pool":
        return keras.layers.GlobalAveragePooling2D(name=name)
    return keras.layers.Activation(_ACTIVATIONS[layer.op], name=name)


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
        use_bias=layer.attr("bias"),
        name=layer.name if same or not pad else f"{layer.name}_conv",
    )
    if same or not pad:
        return conv
    return keras.Sequential([keras.layers.ZeroPadding2D(pad), conv], name=layer.name)


class SpecAdam(keras.optimizers.Optimizer):
    """Adam as the spec (and PyTorch and Optax) define it: epsilon added to sqrt(v_hat).

    keras.optimizers.Adam adds epsilon before the bias correction ("epsilon hat"); after three
    steps of `kitchen` that differs by 2.6e-4 (relative L2 of the displacement) from the spec,
    past the parity gate. Written as a Keras optimizer, the way a Keras user would.
    """

    def __init__(self, learning_rate: float, beta_1: float, beta_2: float, epsilon: float):
        super().__init__(learning_rate, name="spec_adam")
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "v") for v in var_list]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        ops = keras.ops
        gradient = tf.convert_to_tensor(gradient)  # an embedding's IndexedSlices, made dense
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        step = ops.cast(self.iterations + 1, variable.dtype)
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * gradient)
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * ops.square(gradient))
        m_hat = m / (1 - ops.power(self.beta_1, step))
        v_hat = v / (1 - ops.power(self.beta_2, step))
        rate = ops.cast(learning_rate, variable.dtype)
        self.assign_sub(variable, rate * m_hat / (ops.sqrt(v_hat) + self.epsilon))


def _build(workload: Workload) -> tuple[keras.Model, dict[str, keras.layers.Layer]]:
    """A functional Keras model; a dense layer's lone activation rides in the Dense itself."""
    dtype = "int32" if workload.tokens else "float32"
    values = {INPUT: keras.Input(shape=workload.input_shape, dtype=dtype)}
    shapes = infer_shapes(workload)
    by_name = {layer.name: layer for layer in workload.layers}
    fused = fused_activations(workload)
    blocks = {}
    for layer in workload.layers:
        ins = [values[n] for n in layer.inputs]
        if layer.name in fused.values():
            values[layer.name] = ins[0]  # computed by the dense layer it reads
            continue
        activation = by_name[fused[layer.name]].op if layer.name in fused else None
        width = shapes[layer.inputs[0]][-1]
        blocks[layer.name] = block = _layer(layer, workload, width, activation, blocks)
        values[layer.name] = block(ins) if layer.op in _JOINS else block(*ins)
    return keras.Model(values[INPUT], values[workload.layers[-1].name]), blocks


def _variables(block: keras.layers.Layer, op: str) -> dict[str, Any]:
    """Canonical kind -> the Keras variable behind it (attention's kernels are (D, H, D/H) and
    (H, D/H, D) there: the same numbers as the canonical (D, D), reshaped)."""
    if op == "embedding_bag":
        return {"table": block.table.embeddings}
    if op == "embedding":
        found = {"table": block.table.embeddings}
        return found if block.positions is None else {**found, "positions": block.positions}
    if op == "layer_norm":
        return {"gamma": block.gamma, "beta": block.beta}
    if op == "attention":
        return block.variables_by_kind()
    if op == "lstm":
        cell = block.cell
        kinds = ("input_kernel", "recurrent_kernel", "gate_bias")
        return dict(zip(kinds, (cell.kernel, cell.recurrent_kernel, cell.bias), strict=True))
    if op == "batch_norm":
        return {
            "gamma": block.gamma,
            "beta": block.beta,
            "moving_mean": block.moving_mean,
            "moving_var": block.moving_variance,
        }
    inner = block.layers[-1] if isinstance(block, keras.Sequential) else block
    found = {"kernel": inner.kernel}
    if inner.bias is not None:
        found["bias"] = inner.bias
    return found


class TensorflowAdapter(TrainingAdapter):
    @classmethod
    def forget(cls) -> None:
        keras.backend.clear_session()

    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        build = tf.sysconfig.get_build_info()
        return Setup(
            framework_version=tf.__version__,
            device="/GPU:0" if device == "gpu" else "/CPU:0",
            intra_op_threads=intra_op,
            inter_op_threads=inter_op,
            extras=(
                ("keras", keras.__version__),
                ("onednn", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")),
                ("cuda", str(build.get("cuda_version", "none"))),
            ),
        )

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        self.device = setup.device
        with tf.device(self.device):
            self.model, blocks = _build(workload)
            self.vars = {}
            for layer in workload.layers:
                if layer.name in blocks and layer.op in _WEIGHTED:
                    for kind, var in _variables(blocks[layer.name], layer.op).items():
                        self.vars[f"{layer.name}.{kind}"] = var
            self.shapes = {key: weights[key].shape for key in self.vars}
            for key, var in self.vars.items():
                var.assign(weights[key].reshape(var.shape))
            self.trainable = {k: v for k, v in self.vars.items() if v.trainable}
            self.optimizer = self._optimizer(workload)
            self.optimizer.build(list(self.trainable.values()))
        self._compile(tier)

    def _compile(self, tier: str) -> None:
        """The step and inference functions: eager, or one XLA-compiled tf.function each."""
        wrap = (lambda f: tf.function(f, jit_compile=True)) if tier == "compiled" else (lambda f: f)
        self._step = wrap(self._eager_step)
        self._infer = wrap(lambda x: self.model(x, training=False))

    @staticmethod
    def _optimizer(workload: Workload) -> keras.optimizers.Optimizer:
        c = workload.optimizer
        if c.name == "sgd":
            return keras.optimizers.SGD(c.learning_rate, momentum=c.momentum)
        return SpecAdam(c.learning_rate, c.beta1, c.beta2, c.epsilon)

    def _loss_grads(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        return loss, tape.gradient(loss, list(self.trainable.values()))

    def _eager_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        loss, grads = self._loss_grads(x, y)
        self.optimizer.apply(grads, list(self.trainable.values()))
        return loss

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        with tf.device(self.device):
            return tf.constant(x), tf.constant(y)

    def infer(self, batch: Any) -> Any:
        return self._infer(batch[0])

    def train_step(self, batch: Any) -> Any:
        return self._step(*batch)

    def sync(self, handle: Any) -> None:
        handle.numpy()  # materializes the result: TensorFlow has finished the step

    def to_numpy(self, handle: Any) -> np.ndarray:
        return handle.numpy()

    def allocator_peak_mb(self) -> float | None:
        if not self.device.startswith("/GPU"):
            return None  # TensorFlow tracks peaks for GPU memory only
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        loss, grads = self._loss_grads(*batch)
        return float(loss), {
            k: self._canonical(k, g) for k, g in zip(self.trainable, grads, strict=True)
        }

    def parameters(self) -> Arrays:
        return {k: self._canonical(k, v) for k, v in self.trainable.items()}

    def _canonical(self, key: str, value: Any) -> np.ndarray:
        """A variable or gradient in canonical shape (an embedding's gradient arrives as
        IndexedSlices: made dense)."""
        return np.array(tf.convert_to_tensor(value).numpy()).reshape(self.shapes[key])


ADAPTER = TensorflowAdapter
