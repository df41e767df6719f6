"""The worker: read one task as JSON on stdin, run it in one framework, stream JSON lines.

Runs inside the framework's own environment and imports only the standard library, numpy, the
spec and that one framework. Lines written to stdout: {"event": "progress" | "parity" |
"result" | "error", ...}. Everything else (framework chatter) goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import sys
import time
from typing import Any

import numpy as np

from dlarena.measure import parity, timing
from dlarena.spec.model import Workload

_OUT = sys.stdout


def emit(event: str, **fields: Any) -> None:
    _OUT.write(json.dumps({"event": event, **fields}) + "\n")
    _OUT.flush()


def load_reference(path: str) -> dict[str, Any]:
    """The host's reference file: canonical weights, the batch and float64 expectations."""
    with np.load(path, allow_pickle=False) as data:
        groups: dict[str, Any] = {"weights": {}, "grads": {}, "params": {}}
        for key in data.files:
            prefix, _, name = key.partition(":")
            if prefix in groups:
                groups[prefix][name] = data[key]
            else:
                groups[key] = data[key]
    return groups


def check_forward(adapter: Any, batch: Any, ref: dict[str, Any]) -> tuple[float, list[dict]]:
    seconds, handle = timing.timed(lambda: adapter.infer(batch), adapter.sync)
    logits = adapter.to_numpy(handle)
    return seconds, [parity.check("forward", *parity.scaled_max_diff(logits, ref["logits"]))]


def check_training(adapter: Any, batch: Any, ref: dict[str, Any]) -> tuple[float, list[dict]]:
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


def environment(configured: dict[str, Any], threads: int) -> dict[str, Any]:
    return {
        **configured,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "executable": sys.executable,
    }


def run(task: dict[str, Any]) -> None:
    emit("progress", phase="import")
    start = time.perf_counter()
    adapter_cls = importlib.import_module(task["module"]).ADAPTER
    configured = adapter_cls.configure(task["threads"], task.get("device", "cpu"))
    import_s = time.perf_counter() - start

    emit("progress", phase="build")
    workload = Workload.from_dict(task["workload"])
    ref = load_reference(task["reference"])
    start = time.perf_counter()
    adapter = adapter_cls(workload, ref["weights"], task["tier"], task["mode"])
    batch = adapter.prepare(ref["x"], ref["y"])
    build_s = time.perf_counter() - start

    emit("progress", phase="parity")
    train = task["mode"] == "train"
    checker = check_training if train else check_forward
    first_call_s, checks = checker(adapter, batch, ref)
    emit("parity", checks=checks)

    emit("progress", phase="warmup")
    call = (lambda: adapter.train_step(batch)) if train else (lambda: adapter.infer(batch))
    warmup = timing.warm_up(call, adapter.sync, task["warmup"])
    emit("progress", phase="measure")
    samples = timing.measure_repeats(
        call, adapter.sync, task["repeats"], task["min_repeat_s"], float(np.median(warmup))
    )
    emit(
        "result",
        environment=environment(configured, task["threads"]),
        phases={
            "import_s": import_s,
            "build_s": build_s,
            "first_call_s": first_call_s,
            "warmup_s": warmup,
        },
        samples=samples,
        parity=checks,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


def main() -> None:
    global _OUT
    # Framework chatter written to fd 1 would corrupt the JSON stream: keep a private copy of
    # stdout for events and point fd 1 at stderr.
    _OUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    task = json.loads(sys.stdin.read())
    try:
        run(task)
    except Exception as exc:
        emit("error", type=type(exc).__name__, message=str(exc))
        raise


if __name__ == "__main__":
    main()
