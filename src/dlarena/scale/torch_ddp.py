"""One PyTorch DDP worker (gloo on CPU, nccl on CUDA), started by the host with RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT set; prints one JSON line. Task JSON on stdin:
{"workload", "steps", "warmup", "independent"}: `independent` trains alone (no process group),
the machine's ceiling for N processes.

Each rank trains the canonical model on its own shard of the data (weak scaling: the global
batch is WORLD_SIZE x the workload's batch); after training every rank reports a digest of its
parameters, which must be identical across ranks."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dlarena.frameworks.torch import TorchAdapter, _cross_entropy
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch


def digest(model: torch.nn.Module) -> str:
    sha = hashlib.sha256()
    for _, p in sorted(model.named_parameters()):
        sha.update(p.detach().cpu().numpy().tobytes())
    return sha.hexdigest()[:16]


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr
    task = json.loads(sys.stdin.read())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    workload = Workload.from_dict(task["workload"])
    setup = TorchAdapter.configure(task["threads"], 1, "cpu")
    adapter = TorchAdapter(workload, canonical_weights(workload), "eager", "train", setup)
    model = adapter.model
    grouped = not task["independent"]
    if grouped:
        dist.init_process_group("gloo", rank=rank, world_size=world)
        model = DistributedDataParallel(model)
    optimizer = adapter.optimizer  # over the same parameters DDP synchronizes
    x, y = synthetic_batch(workload)
    shard = np.roll(x, rank * 7, axis=0), np.roll(y, rank * 7, axis=0)  # each rank its own data
    batch = adapter.prepare(*shard)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        _cross_entropy(model(batch[0]), batch[1]).backward()
        optimizer.step()

    for _ in range(task["warmup"]):
        step()
    if grouped:
        dist.barrier()
    start = time.perf_counter()
    for _ in range(task["steps"]):
        step()
    if grouped:
        dist.barrier()
    seconds = time.perf_counter() - start
    result = {
        "rank": rank,
        "seconds": seconds,
        "steps": task["steps"],
        "batch": workload.batch_size,
        "digest": digest(adapter.model),
    }
    if grouped:
        dist.destroy_process_group()
    out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
