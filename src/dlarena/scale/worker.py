"""One data-parallel worker, started by the host in the framework's environment: reads a
ScaleTask (scale/records.py) as JSON on stdin, prints one ScaleResult line. The host starts it
on the task's `cpus`, bound to the host's life.

Each rank trains the canonical model on its own shard of the data (weak scaling: the global batch
is world x the workload's batch, and every framework averages gradients over the global batch);
after training every rank reports a digest of its parameters, which must be identical across
ranks. The scenario module gives `Replica(workload, task)` with `prepare(shards)` (one (x, y) per
rank in `ranks`), `step(batch)` (returns the loss handle), `wait(handle)` (the loss as a float),
`barrier()`, `parameters()` (canonical arrays, one dict per replica in this process) and
`close()`."""

from __future__ import annotations

import faulthandler
import hashlib
import importlib
import json
import os
import sys
import threading
import time
from typing import Any

import numpy as np

from dlarena import ending
from dlarena.codec import decode, encode
from dlarena.scale.records import ScaleResult, ScaleTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch


def digest(parameters: dict[str, np.ndarray]) -> str:
    """The parameters' bytes, in key order, as 16 hex digits."""
    sha = hashlib.sha256()
    for key in sorted(parameters):
        sha.update(key.encode())
        sha.update(np.ascontiguousarray(parameters[key], dtype=np.float32).tobytes())
    return sha.hexdigest()[:16]


def update_norm(workload: Workload, parameters: dict[str, np.ndarray]) -> float:
    """How far training moved the parameters from the canonical ones (L2, float64): the same in
    every framework that averages the gradients over the same global batch."""
    start = canonical_weights(workload)
    moved = [np.asarray(v, np.float64) - start[k] for k, v in parameters.items()]
    return float(np.sqrt(sum(float(np.sum(d * d)) for d in moved)))


def shard(workload: Workload, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """This rank's own batch (rank 0's is the canonical one)."""
    return synthetic_batch(workload, seed=1 + rank)


def train(replica: Any, batch: Any, task: ScaleTask) -> tuple[float, float]:
    """Warm-up steps, then the timed steps from a common start; seconds and the last loss."""
    for _ in range(task.warmup):
        replica.wait(replica.step(batch))
    replica.barrier()
    start = time.perf_counter()
    handle = None
    for _ in range(task.steps):
        handle = replica.step(batch)
    loss = replica.wait(handle)
    return time.perf_counter() - start, loss


def main() -> None:
    # framework chatter, Python's or native, goes to stderr: stdout carries the result line only
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    task = decode(ScaleTask, json.loads(sys.stdin.read()))
    faulthandler.dump_traceback_later(max(task.hang_s, 1), exit=True)
    workload = Workload.from_dict(task.workload)
    scenario = importlib.import_module(task.module)
    replica = scenario.Replica(workload, task)
    batch = replica.prepare([shard(workload, rank) for rank in task.ranks])
    seconds, loss = train(replica, batch, task)
    replicas = replica.parameters()
    result = ScaleResult(
        rank=task.ranks[0],
        seconds=seconds,
        steps=task.steps,
        batch=workload.batch_size * len(task.ranks),
        loss=loss,
        digests=tuple(digest(parameters) for parameters in replicas),
        update_norm=update_norm(workload, replicas[0]),
    )
    faulthandler.cancel_dump_traceback_later()
    out.write(json.dumps(encode(result)) + "\n")
    out.flush()
    leave(replica)


def leave(replica: Any, grace_s: float = 10.0) -> None:
    """Leave the group, then exit at once: a framework's destructors can wait on a peer that has
    already gone (torch's process group did, after its result was written), so the process
    never runs them; a shutdown that hangs is cut short after `grace_s`."""
    threading.Timer(grace_s, os._exit, (0,)).start()
    try:
        replica.close()
    except Exception as error:  # the result is written: a failed goodbye only gets a line
        print(f"leaving the group: {error!r}", file=sys.stderr)
    ending.leave()


if __name__ == "__main__":
    main()
