"""JAX's data-parallel machinery: one jit over a mesh of CPU devices, parameters replicated and
the batch sharded along 'data'. The loss is the global batch's mean, so XLA inserts the
all-reduce of the gradients itself. Across processes: jax.distributed (the coordinator on the
loopback, gloo CPU collectives), one device per process. In one process: N host devices
(--xla_force_host_platform_device_count, set by the host), where the step is waited for each time
(several CPU devices in one process otherwise pile up collectives). JAX obeys CPU affinity only
(set by the host)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dlarena.frameworks.jax.adapter import JaxAdapter
from dlarena.scale.records import ScaleTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights


class Replica:
    def __init__(self, workload: Workload, task: ScaleTask):
        self.grouped = not task.independent and not task.one_process
        if self.grouped:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
            jax.distributed.initialize(
                coordinator_address=f"127.0.0.1:{task.ports[0]}",
                num_processes=task.world,
                process_id=task.rank,
                initialization_timeout=120,
            )
        self.devices = len(task.ranks)  # in this process
        setup = JaxAdapter.configure(task.threads, 1, "cpu")
        self.adapter = JaxAdapter(workload, canonical_weights(workload), "eager", "train", setup)
        mesh = Mesh(np.array(jax.devices()), ("data",))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.sharded = NamedSharding(mesh, PartitionSpec("data"))
        a = self.adapter
        a.params = self._replicate(a.params)
        a.batch_stats = self._replicate(a.batch_stats)
        a.opt_state = self._replicate(a.opt_state)
        a.key = None if a.key is None else self._replicate(a.key)
        self.update = jax.jit(a._pure_step, donate_argnums=(0, 1))

    def _replicate(self, tree: Any) -> Any:
        """Every process holds the whole value (the same everywhere: canonical weights)."""
        return jax.tree.map(
            lambda v: jax.make_array_from_process_local_data(self.replicated, np.asarray(v)), tree
        )

    def prepare(self, shards: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        """This process's rows of the global batch: its ranks' shards, one per local device."""
        xs, ys = zip(*shards, strict=True)
        return tuple(
            jax.make_array_from_process_local_data(self.sharded, np.concatenate(v))
            for v in (xs, ys)
        )

    def step(self, batch: Any) -> Any:
        a = self.adapter
        state = (a.batch_stats, a.opt_state, a.key)
        a.params, state, loss = self.update(a.params, state, *batch)
        a.batch_stats, a.opt_state, a.key = state
        return jax.block_until_ready(loss) if self.devices > 1 else loss

    def wait(self, loss: Any) -> float:
        return float(np.asarray(jax.block_until_ready(loss).addressable_data(0)))

    def barrier(self) -> None:
        if self.grouped:
            multihost_utils.sync_global_devices("dlarena-start")

    def parameters(self) -> list[dict[str, np.ndarray]]:
        """Each local device's copy of the parameters, canonical."""
        params = self.adapter.params
        copies = []
        for index in range(self.devices):
            self.adapter.params = jax.tree.map(
                lambda v, i=index: np.asarray(v.addressable_data(i)), params
            )
            copies.append(self.adapter.parameters())
        return copies

    def close(self) -> None:
        if self.grouped:
            jax.distributed.shutdown()
