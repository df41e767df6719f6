"""The mlp in plain Keras 3 + GradientTape; 'compiled' is tf.function(jit_compile=True)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlarena.selfcheck.loop import LAYERS, load, read_task, time_blocks  # noqa: E402

task = read_task()
tf.config.threading.set_intra_op_parallelism_threads(task.intra_op)
tf.config.threading.set_inter_op_parallelism_threads(task.inter_op)
weights, data = load(task)
model = keras.Sequential(
    [
        keras.Input((256,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation=lambda x: tf.nn.gelu(x, approximate=False)),
        keras.layers.Dense(128, activation="tanh"),
        keras.layers.Dense(10),
    ]
)
for layer, name in zip(model.layers, LAYERS, strict=True):
    layer.kernel.assign(weights[f"{name}.kernel"])
    layer.bias.assign(weights[f"{name}.bias"])
optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
batches = [(tf.constant(x), tf.constant(y.astype(np.int32))) for x, y in data]


def step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return loss


if task.tier == "compiled":
    step = tf.function(step, jit_compile=True)
time_blocks(lambda batch: step(*batch), lambda loss: loss.numpy(), batches, task)
