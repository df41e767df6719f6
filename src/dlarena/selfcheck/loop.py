"""The plumbing every hand-written loop shares: task in, canonical weights, blocks timed turn
about with dlarena's worker (runner/paired.py), their seconds out."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.codec import decode
from dlarena.measure.machine import gemm_probe
from dlarena.records import PROTOCOL_VERSION
from dlarena.selfcheck.records import LoopTask

LAYERS = ("fc1", "fc2", "fc3", "logits")  # the mlp's dense layers, in order


_OUT = sys.stdout


def read_task() -> LoopTask:
    """The task (one JSON line on stdin). Framework chatter written to fd 1 would corrupt the
    JSON lines the host reads: those keep a private copy of stdout, and fd 1 goes to stderr."""
    global _OUT
    _OUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return decode(LoopTask, json.loads(sys.stdin.readline()))


def emit(event: str, **fields: Any) -> None:
    _OUT.write(json.dumps({"event": event, "protocol": PROTOCOL_VERSION, **fields}) + "\n")
    _OUT.flush()


def load(task: LoopTask) -> tuple[dict[str, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """Canonical weights (kernels (in, out)) and 4 rolled batches, as dlarena's worker uses."""
    with np.load(task.reference) as data:
        weights = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("weights:")}
        x, y = data["x"], data["y"]
    shift = max(1, len(x) // 4)
    batches = [(np.roll(x, i * shift, axis=0), np.roll(y, i * shift, axis=0)) for i in range(4)]
    return weights, batches


def time_blocks(
    step: Callable[[Any], Any], sync: Callable[[Any], None], batches: list, task: LoopTask
) -> None:
    """As dlarena's worker under paired isolation: warm up, a GEMM probe, one block untimed;
    say "ready", then time one block of `steps` steps (one sync at its end) per command the
    host writes, after one untimed step, until it says finish; last, the blocks' seconds and
    the lower of two GEMM probes (before and after the blocks)."""
    out = None
    for i in range(5):
        out = step(batches[i % len(batches)])
    sync(out)

    def block() -> float:
        start = time.perf_counter()
        for i in range(task.steps):
            out = step(batches[i % len(batches)])
        sync(out)
        return time.perf_counter() - start

    probe = gemm_probe()
    block()
    emit("ready")
    seconds = []
    for line in sys.stdin:
        if json.loads(line)["do"] != "block":
            break
        sync(step(batches[0]))
        seconds.append(block())
        emit("turn", seconds=seconds[-1])
    emit("result", block_seconds=seconds, probe_gflops=min(probe, gemm_probe()))
