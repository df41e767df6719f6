"""PyTorch's data-parallel machinery: DistributedDataParallel over a gloo process group (nccl,
one GPU per rank, with --device gpu), rendezvous over TCP on the loopback. DDP averages the
gradients over the ranks, so each rank's loss is its own batch's mean."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dlarena.frameworks.torch.adapter import TorchAdapter, _cross_entropy
from dlarena.scale.records import ScaleTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights

# a rank that cannot meet the others fails with this, never waits forever
RENDEZVOUS = datetime.timedelta(seconds=120)


class Replica:
    def __init__(self, workload: Workload, task: ScaleTask):
        gpu = task.device == "gpu"
        if gpu:  # one GPU per rank (ranks beyond the GPUs share them round-robin)
            torch.cuda.set_device(task.rank % torch.cuda.device_count())
        setup = TorchAdapter.configure(task.threads, 1, task.device)
        self.adapter = TorchAdapter(workload, canonical_weights(workload), "eager", "train", setup)
        self.grouped = not task.independent
        self.model: torch.nn.Module = self.adapter.model
        if self.grouped:
            dist.init_process_group(
                "nccl" if gpu else "gloo",
                init_method=f"tcp://127.0.0.1:{task.ports[0]}",
                rank=task.rank,
                world_size=task.world,
                timeout=RENDEZVOUS,
            )
            devices = [torch.cuda.current_device()] if gpu else None
            self.model = DistributedDataParallel(self.model, device_ids=devices)
        self.optimizer = self.adapter.optimizer  # over the parameters DDP synchronizes

    def prepare(self, shards: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        ((x, y),) = shards
        return self.adapter.prepare(x, y)

    def step(self, batch: Any) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = _cross_entropy(self.model(batch[0]), batch[1])
        loss.backward()
        self.optimizer.step()
        return loss

    def wait(self, loss: torch.Tensor) -> float:
        return float(loss.detach())

    def barrier(self) -> None:
        if self.grouped:
            dist.barrier()

    def parameters(self) -> list[dict[str, np.ndarray]]:
        return [self.adapter.parameters()]

    def close(self) -> None:
        if self.grouped:
            dist.destroy_process_group()
