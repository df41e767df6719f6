"""TensorFlow's data-parallel machinery: a tf.distribute strategy with the Keras 3 model and
optimizer built in its scope and one tf.function step through strategy.run.
MultiWorkerMirroredStrategy across processes (the cluster in TF_CONFIG, every worker on the
loopback); MirroredStrategy in one process over N logical CPU devices. Keras 3's optimizer sums
the gradients over the replicas, so each replica's loss is its batch's sum over the global batch
(the mean over it)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from dlarena.frameworks.tensorflow.adapter import TensorflowAdapter
from dlarena.frameworks.tensorflow.backend import tf
from dlarena.scale.records import ScaleTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights


def strategy(task: ScaleTask) -> tf.distribute.Strategy:
    devices = len(task.ranks)
    if task.one_process:  # one logical CPU device per replica
        cpu = tf.config.list_physical_devices("CPU")[0]
        if devices > 1:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
            )
        names = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(names)
    if task.independent:
        return tf.distribute.get_strategy()  # the default: no cross-worker communication
    cluster = {"worker": [f"127.0.0.1:{port}" for port in task.ports]}
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": task.rank}}
    )
    return tf.distribute.MultiWorkerMirroredStrategy()


class Replica:
    def __init__(self, workload: Workload, task: ScaleTask):
        # threads first: they cannot change once the strategy has started TensorFlow's runtime
        setup = TensorflowAdapter.configure(task.threads, 1, "cpu")
        self.strategy = strategy(task)
        self.replicas = 1 if task.independent else task.world
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
            loss = tf.reduce_sum(losses) / (self.replicas * tf.cast(tf.shape(x)[0], tf.float32))
        a.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    def _distributed_step(self, x: Any, y: Any) -> Any:
        return self.strategy.run(self._replica_step, args=(x, y))

    def prepare(self, shards: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        """One (x, y) per local replica (a plain pair where there is one)."""
        if len(shards) == 1:
            return tuple(tf.constant(v) for v in shards[0])
        return tuple(
            self.strategy.experimental_distribute_values_from_function(
                lambda context, i=i: tf.constant(shards[context.replica_id_in_sync_group][i])
            )
            for i in (0, 1)
        )

    def step(self, batch: Any) -> Any:
        return self._step(*batch)

    def wait(self, loss: Any) -> float:
        """The global batch's mean loss (an all-reduce every worker joins)."""
        return float(self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None))

    def barrier(self) -> None:
        self.wait(self.strategy.run(lambda: tf.constant(0.0)))

    def parameters(self) -> list[dict[str, np.ndarray]]:
        """Each local replica's copy of the variables, canonical."""
        a = self.adapter
        copies = [dict(zip(a.trainable, c, strict=True)) for c in zip(*(
            self.strategy.experimental_local_results(v) for v in a.trainable.values()
        ), strict=True)]  # fmt: skip
        return [{k: a._canonical(k, v) for k, v in copy.items()} for copy in copies]

    def close(self) -> None:
        pass
