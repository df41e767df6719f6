"""The worker: read one task as JSON on stdin, run it in one framework, stream JSON lines.

Runs inside the framework's own environment and imports only the standard library, numpy, the
spec, the records and that one framework. Lines written to stdout (see records.py for the
protocol's format history): {"event": "progress" | "parity" | "result" | "error",
"protocol": N, ...}. Everything else (framework chatter, even from C) goes to stderr.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.frameworks.base import InferenceAdapter, TrainingAdapter
from dlarena.measure import parity, timing
from dlarena.records import (
    PROTOCOL_VERSION,
    Environment,
    ParityCheck,
    Phases,
    Setup,
    WorkerResult,
    WorkerTask,
    decode,
    encode,
)
from dlarena.spec.model import Workload

_OUT = sys.stdout


def emit(event: str, **fields: Any) -> None:
    _OUT.write(json.dumps({"event": event, "protocol": PROTOCOL_VERSION, **fields}) + "\n")
    _OUT.flush()


def load_reference(path: str) -> dict[str, Any]:
    """The host's reference file: canonical weights, the batch and float64 expectations."""
    with np.load(path, allow_pickle=False) as data:
        version = int(data["format_version"]) if "format_version" in data.files else 0
        if version != PROTOCOL_VERSION:
            raise ValueError(f"reference {path} has format {version}, expected {PROTOCOL_VERSION}")
        groups: dict[str, Any] = {"weights": {}, "grads": {}, "params": {}}
        for key in data.files:
            prefix, _, name = key.partition(":")
            if prefix in groups:
                groups[prefix][name] = data[key]
            else:
                groups[key] = data[key]
    return groups


def check_forward(
    adapter: InferenceAdapter, batch: Any, ref: dict[str, Any]
) -> tuple[float, list[ParityCheck]]:
    seconds, handle = timing.timed(lambda: adapter.infer(batch), adapter.sync)
    logits = adapter.to_numpy(handle)
    return seconds, [parity.check("forward", *parity.scaled_max_diff(logits, ref["logits"]))]


def check_training(
    adapter: TrainingAdapter, batch: Any, ref: dict[str, Any]
) -> tuple[float, list[ParityCheck]]:
    """Gradients at the canonical weights, then the first steps (the first one timed)."""
    loss0, grads = adapter.loss_and_grads(batch)
    start = {k: np.array(v, copy=True) for k, v in adapter.parameters().items()}
    first_call_s, handle = timing.timed(lambda: adapter.train_step(batch), adapter.sync)
    losses = [float(adapter.to_numpy(handle))]
    for _ in range(parity.PARITY_STEPS - 1):
        losses.append(float(adapter.to_numpy(adapter.train_step(batch))))
    moved = {k: v - start[k] for k, v in adapter.parameters().items()}
    ref_moved = {k: v - ref["weights"][k].astype(np.float64) for k, v in ref["params"].items()}
    loss_abs, _ = parity.scaled_max_diff(np.array(losses), ref["losses"])
    loss_rel = float(np.max(np.abs(np.array(losses) - ref["losses"]) / np.abs(ref["losses"])))
    return first_call_s, [
        parity.check("loss", max(loss_abs, abs(loss0 - ref["losses"][0])), loss_rel),
        parity.check("grads", *parity.tensors_relative_l2(grads, ref["grads"])),
        parity.check("params", *parity.tensors_relative_l2(moved, ref_moved)),
    ]


def environment(setup: Setup, threads: int) -> Environment:
    return Environment(
        setup=setup,
        python=platform.python_version(),
        numpy=np.__version__,
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        threads=threads,
        executable=sys.executable,
    )


def build(task: WorkerTask) -> tuple[InferenceAdapter, Setup, Any, dict[str, Any], Phases]:
    """Import the framework, configure it, build the model and place the batch."""
    emit("progress", phase="import")
    start = time.perf_counter()
    adapter_cls = importlib.import_module(task.module).ADAPTER
    setup = adapter_cls.configure(task.threads, task.device)
    import_s = time.perf_counter() - start

    emit("progress", phase="build")
    workload = Workload.from_dict(task.workload)
    ref = load_reference(task.reference)
    start = time.perf_counter()
    adapter = adapter_cls(workload, ref["weights"], task.tier, task.mode, setup)
    if task.mode == "train" and not isinstance(adapter, TrainingAdapter):
        raise TypeError(f"{task.module} runs inference only; it has no 'train' mode")
    batch = adapter.prepare(ref["x"], ref["y"])
    return adapter, setup, batch, ref, Phases(import_s, time.perf_counter() - start)


def run(task: WorkerTask) -> None:
    adapter, setup, batch, ref, phases = build(task)
    emit("progress", phase="parity")
    call: Callable[[], Any]
    if isinstance(adapter, TrainingAdapter) and task.mode == "train":
        first_call_s, checks = check_training(adapter, batch, ref)
        call = functools.partial(adapter.train_step, batch)
    else:
        first_call_s, checks = check_forward(adapter, batch, ref)
        call = functools.partial(adapter.infer, batch)
    emit("parity", checks=encode(checks))

    emit("progress", phase="warmup")
    warmup = timing.warm_up(call, adapter.sync, task.warmup)
    emit("progress", phase="measure")
    samples = timing.measure_repeats(
        call, adapter.sync, task.repeats, task.min_repeat_s, float(np.median(warmup))
    )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = WorkerResult(
        environment=environment(setup, task.threads),
        phases=Phases(phases.import_s, phases.build_s, first_call_s, tuple(warmup), peak_rss_mb),
        samples=tuple(tuple(s) for s in samples),
    )
    emit("result", result=encode(result))


def main() -> None:
    global _OUT
    # Framework chatter written to fd 1 would corrupt the JSON stream: keep a private copy of
    # stdout for events and point fd 1 at stderr.
    _OUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        task = decode(WorkerTask, json.loads(sys.stdin.read()))
        run(task)
    except Exception as exc:
        emit("error", type=type(exc).__name__, message=str(exc))
        raise


if __name__ == "__main__":
    main()
