"""The plumbing every hand-written loop shares: task in, canonical weights, block times out."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.measure.machine import gemm_probe

LAYERS = ("fc1", "fc2", "fc3", "logits")  # the mlp's dense layers, in order


def read_task() -> dict[str, Any]:
    return json.loads(sys.stdin.read())


def load(task: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """Canonical weights (kernels (in, out)) and 4 rolled batches, as dlarena's worker uses."""
    with np.load(task["reference"]) as data:
        weights = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("weights:")}
        x, y = data["x"], data["y"]
    shift = max(1, len(x) // 4)
    batches = [(np.roll(x, i * shift, axis=0), np.roll(y, i * shift, axis=0)) for i in range(4)]
    return weights, batches


def time_blocks(
    step: Callable[[Any], Any], sync: Callable[[Any], None], batches: list, task: dict
) -> None:
    """Warm up, then `blocks` blocks of `steps` steps with one sync each; print their seconds
    and the lower of two GEMM probes taken just before and after them (as dlarena's worker:
    one block, untimed, after the first probe)."""
    out = None
    for i in range(5):
        out = step(batches[i % len(batches)])
    sync(out)
    seconds = []
    probe = gemm_probe()
    for block in range(task["blocks"] + 1):
        start = time.perf_counter()
        for i in range(task["steps"]):
            out = step(batches[i % len(batches)])
        sync(out)
        if block:
            seconds.append(time.perf_counter() - start)
    probe = min(probe, gemm_probe())
    out_file = sys.__stdout__
    assert out_file is not None  # the host reads the line from the worker's stdout
    out_file.write(json.dumps({"block_seconds": seconds, "probe_gflops": probe}) + "\n")
