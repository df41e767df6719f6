"""MXNet's data-parallel machinery: a dist_sync kvstore (ps-lite: the host starts a scheduler and
one parameter server with the DMLC variables, every node on the loopback) behind a Gluon Trainer
over the hybridized network. The server sums the workers' gradients and runs the optimizer, so
the Trainer rescales by the global batch."""

from __future__ import annotations

from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon

from dlarena.frameworks.mxnet import MxnetAdapter
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights


class Replica:
    def __init__(self, workload: Workload, task: dict[str, Any]):
        setup = MxnetAdapter.configure(task["threads"], 1, "cpu")
        weights = canonical_weights(workload)
        self.adapter = MxnetAdapter(workload, weights, "compiled", "train", setup)
        self.grouped = not task["independent"]
        self.world = task["world"] if self.grouped else 1
        if self.grouped:
            self.kvstore = mx.kv.create("dist_sync")
            optimizer, options = MxnetAdapter._optimizer(workload)
            self.adapter.trainer = gluon.Trainer(
                self.adapter.net.collect_params(), optimizer, options, kvstore=self.kvstore
            )

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        return self.adapter.prepare(x, y)

    def step(self, batch: Any) -> Any:
        losses = self.adapter._loss(batch)
        self.adapter.trainer.step(batch[0].shape[0] * self.world)
        return losses

    def wait(self, losses: Any) -> float:
        return float(losses.mean().asscalar())

    def barrier(self) -> None:
        mx.nd.waitall()
        if self.grouped:
            self.kvstore._barrier()

    def parameters(self) -> dict[str, np.ndarray]:
        return self.adapter.parameters()

    def close(self) -> None:
        mx.nd.waitall()
