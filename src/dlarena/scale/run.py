"""Scaling runs, host side: N workers of a framework's data-parallel machinery on this machine,
each pinned to its own CPUs with the same thread count, against one worker and against N
independent processes (the machine's ceiling)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError
from dlarena.records import Threading
from dlarena.runner import envs
from dlarena.runner.launcher import child_setup, free_port, worker_env
from dlarena.spec.model import Workload

# framework -> the worker module of its data-parallel scenario
SCENARIOS = {"torch": "dlarena.scale.torch_ddp"}
MECHANISMS = {"torch": "DistributedDataParallel, gloo"}


def cpu_sets(workers: int) -> list[tuple[int, ...]]:
    """Each worker's own CPUs: the allowed CPUs split evenly (the same count for every one)."""
    allowed = sorted(os.sched_getaffinity(0))
    each = len(allowed) // workers
    if each < 1:
        raise DlarenaError(
            f"{workers} workers need at least {workers} CPUs; this process may use {len(allowed)}"
        )
    return [tuple(allowed[i * each : (i + 1) * each]) for i in range(workers)]


def launch(
    python: str, module: str, task: dict[str, Any], workers: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Start the workers together (one process group on 127.0.0.1) and read each one's line."""
    port, procs = free_port(), []
    with contextlib.ExitStack() as stack:
        for rank, cpus in enumerate(cpu_sets(workers)):
            threading = Threading("fair", intra_op=len(cpus), inter_op=1, cpus=cpus)
            env = worker_env(threading) | {
                "RANK": str(rank),
                "WORLD_SIZE": str(workers),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
            }
            # stderr to a file: a chatty worker never blocks on a full pipe
            errors = stack.enter_context(tempfile.TemporaryFile("w+"))
            proc = subprocess.Popen(
                [python, "-m", module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=env,
                preexec_fn=child_setup(cpus),
            )
            stack.callback(_stop, proc)
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({**task, "threads": len(cpus)}))
            proc.stdin.close()  # every rank has its task before any waits for the others
            proc.stdin = None
            procs.append((proc, errors))
        return [_result(proc, errors, timeout_s) for proc, errors in procs]


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def _result(proc: subprocess.Popen, errors: Any, timeout_s: float) -> dict[str, Any]:
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise DlarenaError(
            f"a scaling worker ran past {timeout_s:.0f} s; all were stopped"
        ) from None
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        errors.seek(0)
        tail = errors.read().strip()[-500:]
        raise DlarenaError(f"a scaling worker failed (exit {proc.returncode}): {tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def throughput(results: list[dict[str, Any]]) -> float:
    """Samples per second of all workers together (the slowest worker's time)."""
    samples = sum(r["steps"] * r["batch"] for r in results)
    return samples / max(r["seconds"] for r in results)


def scale(
    framework: str,
    workload: Workload,
    counts: list[int],
    home: Path,
    steps: int = 30,
    warmup: int = 5,
    timeout_s: float = 900.0,
) -> list[dict[str, Any]]:
    """Per worker count: samples/s, efficiency against one worker and against N independent
    processes, and whether every replica ended with identical parameters."""
    if framework not in SCENARIOS:
        raise DlarenaError(
            f"no scaling scenario for {framework} yet; built: {', '.join(SCENARIOS)}"
        )
    python = envs.resolve(framework, home, {}).python
    task = {"workload": workload.to_dict(), "steps": steps, "warmup": warmup}
    rows, single = [], None
    for workers in sorted(set(counts)):
        together = launch(
            python, SCENARIOS[framework], {**task, "independent": False}, workers, timeout_s
        )
        alone = launch(
            python, SCENARIOS[framework], {**task, "independent": True}, workers, timeout_s
        )
        rate, ceiling = throughput(together), throughput(alone)
        if workers == 1 or single is None:
            single = rate / workers
        rows.append(
            {
                "framework": framework,
                "mechanism": MECHANISMS[framework],
                "workload": workload.name,
                "workers": workers,
                "samples_per_s": rate,
                "steps_per_s": rate / (workers * workload.batch_size),
                "efficiency": rate / (workers * single),
                "of_ceiling": rate / ceiling,
                "independent_samples_per_s": ceiling,
                "identical": len({r["digest"] for r in together}) == 1,
                "digests": sorted({r["digest"] for r in together}),
            }
        )
    return rows
