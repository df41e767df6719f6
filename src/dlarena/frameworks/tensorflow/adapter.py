"""TensorFlow: Keras 3 layers (layers.py) on the TensorFlow backend in a functional model, a
GradientTape train step and Keras optimizers; 'compiled' is tf.function(jit_compile=True).

Keras 3 rather than raw tf.Module: it is how TensorFlow users build models today, its layers
share the canonical layouts (NHWC, kernels (in, out) and (kh, kw, in, out)), and the step is
still plain TensorFlow (GradientTape, tf.function), so nothing hides what is being timed.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.frameworks.tensorflow.backend import keras, tf
from dlarena.frameworks.tensorflow.layers import (
    JOINS,
    WEIGHTED,
    Built,
    layer_of,
    variables_of,
)
from dlarena.frameworks.tensorflow.optimizers import keras_optimizer
from dlarena.records import Setup
from dlarena.spec.graph import fused_activations
from dlarena.spec.model import INPUT, Workload
from dlarena.spec.shapes import infer_shapes


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
        blocks[layer.name] = block = layer_of(layer, Built(workload, width, activation, blocks))
        values[layer.name] = block(ins) if layer.op in JOINS else block(*ins)
    return keras.Model(values[INPUT], values[workload.layers[-1].name]), blocks


# Mixed precision: a Keras dtype policy (float32 variables, compute in the half type); float16
# also scales the loss (keras.optimizers.LossScaleOptimizer)
_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


class TensorflowAdapter(TrainingAdapter):
    scaled = False  # float16's loss scaling (the raw-op variant computes in float32 only)

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
        self.scaled = workload.precision == "fp16"
        with tf.device(self.device):
            keras.mixed_precision.set_global_policy(_POLICIES[workload.precision])
            try:  # the policy is read as each layer is made
                self.model, blocks = _build(workload)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            self.vars = {}
            for layer in workload.layers:
                if layer.name in blocks and layer.op in WEIGHTED:
                    for kind, var in variables_of(blocks[layer.name], layer.op).items():
                        self.vars[f"{layer.name}.{kind}"] = var
            self.shapes = {key: weights[key].shape for key in self.vars}
            for key, var in self.vars.items():
                var.assign(weights[key].reshape(var.shape))
            self.trainable = {k: v for k, v in self.vars.items() if v.trainable}
            self.optimizer = keras_optimizer(workload.optimizer)
            if self.scaled:
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(list(self.trainable.values()))
        self._compile(tier)

    def _compile(self, tier: str) -> None:
        """The step and inference functions: eager, or one XLA-compiled tf.function each."""
        wrap = (lambda f: tf.function(f, jit_compile=True)) if tier == "compiled" else (lambda f: f)
        self._step = wrap(self._eager_step)
        # the logits in float32 whatever the policy computed them in
        self._infer = wrap(lambda x: tf.cast(self.model(x, training=False), tf.float32))

    def _loss_grads(
        self, x: tf.Tensor, y: tf.Tensor, scaled: bool = False
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The loss (in float32, as Keras's mixed-precision guide computes it) and its
        gradients; `scaled`: of the loss times the LossScaleOptimizer's scale."""
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(x, training=True), tf.float32)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
            target = self.optimizer.scale_loss(loss) if scaled else loss
        return loss, tape.gradient(target, list(self.trainable.values()))

    def _eager_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        loss, grads = self._loss_grads(x, y, self.scaled)  # the optimizer unscales
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
