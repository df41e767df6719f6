"""One short worker process, run to its end: a task in as JSON, one JSON line out. The probes,
the hand-written loops of selfcheck and the GEMM peak probe start theirs here, pinned and with
a bench worker's environment (process.spawn, process.worker_env), so every process dlarena
starts is started the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from dlarena.records import Threading
from dlarena.runner.process import kill_group, spawn, worker_env


class WorkerFailed(Exception):
    """The process ran past its timeout, exited non-zero or printed no JSON line; the message
    says which, with the tail of its stderr."""


def run_module(
    python: str,
    module: str,
    task: dict[str, Any] | None,
    threading: Threading,
    timeout_s: float,
    argv: tuple[str, ...] = (),
    line_prefix: tuple[str, ...] = ("{", "["),
    tail_chars: int = 600,
) -> Any:
    """`python -m module *argv` on the threading's CPUs with `task` on stdin; the JSON of its
    last line that starts with one of `line_prefix`."""
    proc = spawn(python, ["-m", module, *argv], threading.cpus, worker_env(threading), text=True)
    try:
        stdout, stderr = proc.communicate(json.dumps(task) if task is not None else "", timeout_s)
    except subprocess.TimeoutExpired:
        raise WorkerFailed(f"the worker ran past {timeout_s:.0f} s and was stopped") from None
    finally:
        kill_group(proc)
        proc.wait()
    lines = [line for line in stdout.splitlines() if line.startswith(line_prefix)]
    if proc.returncode != 0 or not lines:
        tail = stderr.strip()[-tail_chars:]
        last = tail.splitlines()[-1] if tail else ""  # a traceback's exception, said first
        more = f"\n{tail}" if tail != last else ""
        raise WorkerFailed(f"the worker failed (exit {proc.returncode}): {last}{more}")
    return json.loads(lines[-1])


def probe_peak(
    threading: Threading, seconds: float = 1.0, precision: str = "fp32", python: str | None = None
) -> float | None:
    """The machine's GEMM peak at `precision` under the given threads and CPUs
    (measure/peak.py), in a fresh process of `python` (bf16: one with PyTorch); None if it
    cannot run."""
    argv = (str(seconds),) if precision == "fp32" else (str(seconds), precision)
    try:
        found = run_module(
            python or sys.executable, "dlarena.measure.peak", None, threading, 60.0, argv
        )
    except WorkerFailed:
        return None
    return float(found["gflops"])
