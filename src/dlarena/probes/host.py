"""Running a worker module (probes, fidelity) in a framework's environment, as the bench runs
its workers: its own process, its CPUs pinned, one JSON line back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlarena.codec import encode
from dlarena.errors import FrameworkUnavailable
from dlarena.runner import envs, once
from dlarena.runner.threads import fair


class ProbeFailed(Exception):
    """The probe could not run at all (missing environment, crashed worker): a named skip."""


def run_module(python: str, module: str, task: Any, threads: int, timeout_s: float) -> Any:
    """Run `python -m module` with the task (a record, with its own `threads`) on stdin, pinned
    like a bench worker to `threads` CPUs, and return the JSON of its last JSON line."""
    try:
        return once.run_module(python, module, encode(task), fair(threads), timeout_s)
    except once.WorkerFailed as exc:
        raise ProbeFailed(str(exc)) from None


def run_worker(
    framework: str,
    module: str,
    task: Any,
    home: Path,
    threads: int,
    timeout_s: float,
    env: str | None = None,
) -> Any:
    """The worker module's JSON result, run in the framework's environment (or `env`)."""
    try:
        python = envs.resolve(framework, home, {framework: env} if env else {}).python
    except FrameworkUnavailable as exc:
        raise ProbeFailed(str(exc)) from None
    return run_module(python, module, task, threads, timeout_s)
