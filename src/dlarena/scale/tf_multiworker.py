"""TensorFlow's data-parallel machinery: MultiWorkerMirroredStrategy, the cluster given in
TF_CONFIG (every worker on the loopback), the Keras 3 model and optimizer built in its scope and
one tf.function step through strategy.run. Keras 3's optimizer sums the gradients over the
workers, so each worker's loss is its batch's sum over the global batch (the mean over it)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import tensorflow as tf

from dlarena.frameworks.tensorflow import TensorflowAdapter
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights


def strategy(task: dict[str, Any]) -> tf.distribute.Strategy:
    if task["independent"]:
        return tf.distribute.get_strategy()  # the default: no cross-worker communication
    cluster = {"worker": [f"127.0.0.1:{port}" for port in task["ports"]]}
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": task["rank"]}}
    )
    return tf.distribute.MultiWorkerMirroredStrategy()


class Replica:
    def __init__(self, workload: Workload, task: dict[str, Any]):
        # threads first: they cannot change once the strategy has started TensorFlow's runtime
        setup = TensorflowAdapter.configure(task["threads"], 1, "cpu")
        self.strategy = strategy(task)
        self.world = 1 if task["independent"] else task["world"]
        with self.strategy.scope():
            self.adapter = TensorflowAdapter(
                workload, canonical_weights(workload), "eager", "train", setup
            )
        self._step = tf.function(self._distributed_step)

    def _replica_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        a = self.adapter
        variables = list(a.trainable.values())
        with tf.GradientTape() as tape:
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=a.model(x, training=True)
            )
            loss = tf.reduce_sum(losses) / (self.world * tf.cast(tf.shape(x)[0], tf.float32))
        a.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    def _distributed_step(self, x: tf.Tensor, y: tf.Tensor) -> Any:
        return self.strategy.run(self._replica_step, args=(x, y))

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        return tf.constant(x), tf.constant(y)

    def step(self, batch: Any) -> Any:
        return self._step(*batch)

    def wait(self, loss: Any) -> float:
        return float(loss.numpy()) * self.world  # this worker's batch mean

    def barrier(self) -> None:
        if self.world > 1:  # an all-reduce every worker joins
            self.strategy.reduce(
                tf.distribute.ReduceOp.SUM,
                self.strategy.run(lambda: tf.constant(1.0)),
                axis=None,
            )

    def parameters(self) -> dict[str, np.ndarray]:
        return self.adapter.parameters()

    def close(self) -> None:
        pass
