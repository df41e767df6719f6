"""MXNet's data-parallel machinery: a kvstore behind a Gluon Trainer over the hybridized network.
Across processes: dist_sync (ps-lite: the host starts a scheduler and one parameter server with
the DMLC variables, every node on the loopback); the server sums the workers' gradients and runs
the optimizer. In one process: 'local' over N CPU contexts, the batch split across them. Either
way the Trainer rescales by the global batch."""

from __future__ import annotations

from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from dlarena.frameworks.mxnet.adapter import MxnetAdapter, _to_canonical
from dlarena.frameworks.mxnet.optimizers import gluon_optimizer
from dlarena.scale.records import ScaleTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights


class Replica:
    def __init__(self, workload: Workload, task: ScaleTask):
        setup = MxnetAdapter.configure(task.threads, 1, "cpu")
        weights = canonical_weights(workload)
        self.adapter = MxnetAdapter(workload, weights, "compiled", "train", setup)
        self.contexts = [mx.cpu(i) for i in range(len(task.ranks))]
        self.grouped = not task.independent and not task.one_process  # dist_sync
        self.world = 1 if task.independent else task.world
        self.kvstore = None
        if not task.independent:
            self.kvstore = mx.kv.create("local" if task.one_process else "dist_sync")
            params = self.adapter.net.collect_params()
            params.reset_ctx(self.contexts)  # the canonical weights, copied to every context
            optimizer, options = gluon_optimizer(workload.optimizer)
            self.adapter.trainer = gluon.Trainer(params, optimizer, options, kvstore=self.kvstore)

    def prepare(self, shards: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        """One (x, y) per context."""
        batches = []
        for context, (x, y) in zip(self.contexts, shards, strict=True):
            self.adapter.context = context
            batches.append(self.adapter.prepare(x, y))
        self.adapter.context = self.contexts[0]
        return batches

    def step(self, batches: Any) -> Any:
        net, loss_fn = self.adapter.net, self.adapter.loss_fn
        with autograd.record():
            losses = [loss_fn(net(x), y) for x, y in batches]
        autograd.backward(losses)
        self.adapter.trainer.step(sum(len(x) for x, _ in batches) * self.world // len(batches))
        return losses

    def wait(self, losses: Any) -> float:
        return float(np.mean([loss.mean().asscalar() for loss in losses]))

    def barrier(self) -> None:
        mx.nd.waitall()
        if self.grouped and self.kvstore is not None:
            self.kvstore._barrier()

    def parameters(self) -> list[dict[str, np.ndarray]]:
        """Each context's copy of the parameters, canonical."""
        trainable = self.adapter.trainable
        return [
            {k: _to_canonical(k, p.data(c)) for k, p in trainable.items()} for c in self.contexts
        ]

    def close(self) -> None:
        mx.nd.waitall()
