"""Scaling runs, host side: N workers of a framework's data-parallel machinery on this machine,
each pinned to its own CPUs with the same thread count, against one worker and against N
independent processes (the machine's ceiling)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from dlarena.codec import decode, encode
from dlarena.errors import DlarenaError
from dlarena.frameworks import Scenario, scenarios
from dlarena.records import Threading
from dlarena.runner import envs
from dlarena.runner.process import free_port, kill_group, spawn, worker_env
from dlarena.scale.records import ScaleRecord, ScaleResult, ScaleTask
from dlarena.spec.model import Workload

SCENARIOS = scenarios()  # every framework folder's data-parallel machinery, by name


def cpu_sets(workers: int, most: int) -> list[tuple[int, ...]]:
    """Each worker's own CPUs: the allowed CPUs split evenly over the largest worker count, so a
    worker has the same CPUs (and threads) at every count and the efficiency compares like with
    like."""
    allowed = sorted(os.sched_getaffinity(0))
    each = len(allowed) // most
    if each < 1:
        raise DlarenaError(
            f"{most} workers need at least {most} CPUs; this process may use {len(allowed)}"
        )
    return [tuple(allowed[i * each : (i + 1) * each]) for i in range(workers)]


@dataclasses.dataclass
class _Process:
    proc: subprocess.Popen
    stderr: IO[str]

    def stop(self) -> None:
        kill_group(self.proc)
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()

    def dump(self) -> None:
        """Ask a stuck process for its stacks (faulthandler on SIGABRT), then stop it."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.stop()

    def tail(self, chars: int = 800) -> str:
        self.stderr.seek(0)
        return self.stderr.read().strip()[-chars:]


def _start(
    stack: contextlib.ExitStack,
    python: str,
    argv: list[str],
    env: dict[str, str],
    cpus: tuple[int, ...] = (),
    result: bool = True,
) -> _Process:
    """A process on `cpus` that dies with the host and with the host's stack; stdout is piped only
    where a result line comes (a helper writes everything to its stderr file)."""
    # stderr to a file: a chatty worker never blocks on a full pipe
    stderr = stack.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115  closed by stack
    # -X faulthandler: SIGABRT from the host makes a stuck process write every thread's stack
    stdout = subprocess.PIPE if result else stderr
    proc = spawn(python, ["-X", "faulthandler", *argv], cpus, env, stdout, stderr, text=True)
    started = _Process(proc, stderr)
    stack.callback(started.stop)
    return started


def launch(
    python: str,
    scenario: Scenario,
    task: ScaleTask,
    workers: int,
    most: int,
    timeout_s: float,
) -> list[ScaleResult]:
    """Start the workers together (and the scenario's helpers), every address on the loopback,
    and read each worker's line. A worker that hangs dumps its stack and exits before the host's
    timeout (faulthandler), so the error says where it stopped."""
    grouped = not task.independent
    ports = [free_port() for _ in range(workers + 1)]
    sets = cpu_sets(workers, most)

    def env(role: str, cpus: tuple[int, ...]) -> dict[str, str]:
        threading = Threading("fair", intra_op=len(cpus), inter_op=1, cpus=cpus, malloc="keep")
        own = scenario.env(role, workers, ports[-1]) if grouped else {}
        # gloo (torch, JAX) binds the loopback only
        return worker_env(threading) | {"GLOO_SOCKET_IFNAME": "lo"} | own

    with contextlib.ExitStack() as stack:
        for role in scenario.helpers if grouped else ():
            argv = [*scenario.helper_argv]
            helper = _start(stack, python, argv, env(role, sets[0]), result=False)
            helper.proc.stdin.close()  # type: ignore[union-attr]
        running = []
        together = grouped and scenario.one_process  # one process over every worker's CPUs
        groups = [tuple(range(workers))] if together else [(rank,) for rank in range(workers)]
        for ranks in groups:
            cpus = tuple(c for rank in ranks for c in sets[rank])
            argv = ["-m", "dlarena.scale.worker"]
            proc = _start(stack, python, argv, env("worker", cpus), cpus)
            assert proc.proc.stdin is not None
            line = dataclasses.replace(
                task, module=scenario.module, rank=ranks[0], ranks=ranks, world=workers,
                ports=tuple(ports[:workers]), threads=len(cpus), one_process=together, cpus=cpus,
                hang_s=timeout_s - 15,
            )  # fmt: skip
            proc.proc.stdin.write(json.dumps(encode(line)))
            proc.proc.stdin.close()  # every rank has its task before any waits for the others
            proc.proc.stdin = None
            running.append(proc)
        kind = "independent processes" if task.independent else "workers"
        label = f"{scenario.module.rsplit('.', 1)[-1]} ({workers} {kind})"
        return _results(running, time.monotonic() + timeout_s, timeout_s, label)


def _results(
    running: list[_Process], deadline: float, timeout_s: float, label: str
) -> list[ScaleResult]:
    """Every worker's result line; the first worker to fail, or the deadline, stops them all and
    names why (a rank that fails leaves the others waiting for it: its error is the one shown;
    at the deadline every rank still running writes its stacks)."""
    while any(p.proc.poll() is None for p in running):
        failed = next((p for p in running if p.proc.returncode not in (None, 0)), None)
        if failed is not None:
            raise DlarenaError(
                f"a scaling worker of {label} failed (exit {failed.proc.returncode}): "
                f"{failed.tail() or '(no output)'}"
            )
        if time.monotonic() > deadline:
            stuck = [(rank, p) for rank, p in enumerate(running) if p.proc.returncode is None]
            for _, process in stuck:
                process.dump()
            written = "; ".join(f"rank {rank}: {p.tail(4000) or '(nothing)'}" for rank, p in stuck)
            raise DlarenaError(
                f"the scaling workers of {label} ran past their {timeout_s:.0f} s timeout "
                f"and were stopped (raise --timeout on a busy machine). Still running: {written}"
            )
        time.sleep(0.05)
    results = []
    for process in running:
        assert process.proc.stdout is not None
        lines = [line for line in process.proc.stdout.read().splitlines() if line.startswith("{")]
        if process.proc.returncode != 0 or not lines:
            raise DlarenaError(
                f"a scaling worker failed (exit {process.proc.returncode}): "
                f"{process.tail() or '(no output)'}"
            )
        results.append(decode(ScaleResult, json.loads(lines[-1])))
    return results


def throughput(results: list[ScaleResult]) -> float:
    """Samples per second of all workers together (the slowest worker's time)."""
    samples = sum(r.steps * r.batch for r in results)
    return samples / max(r.seconds for r in results)


def records(
    framework: str,
    workload: Workload,
    size: str,
    counts: list[int],
    home: Path,
    steps: int = 200,
    timeout_s: float = 300.0,
    warmup: int = 10,
    device: str = "cpu",
) -> list[ScaleRecord]:
    """Per worker count: samples/s, efficiency against one worker and against N independent
    processes, and whether every replica ended with identical parameters (status `works`, else
    `fails`)."""
    scenario = SCENARIOS[framework]
    python = envs.resolve(scenario.runtime, home, {}).python
    task = ScaleTask(workload.to_dict(), steps, warmup, device, independent=False)
    rows: list[ScaleRecord] = []
    for workers in sorted(set(counts)):
        most = max(counts)
        together = launch(python, scenario, task, workers, most, timeout_s)
        alone = launch(
            python, scenario, dataclasses.replace(task, independent=True), workers, most, timeout_s
        )
        rate, ceiling = throughput(together), throughput(alone)
        single = rows[0].samples_per_s / rows[0].workers if rows else rate / workers
        digests = tuple(sorted({d for r in together for d in r.digests}))
        rows.append(
            ScaleRecord(
                framework=framework,
                mechanism=scenario.mechanism,
                workload=f"{workload.name} ({size})",
                workers=workers,
                status="works" if len(digests) == 1 else "fails",
                samples_per_s=rate,
                steps_per_s=rate / (workers * workload.batch_size),
                efficiency=rate / (workers * single),
                of_ceiling=rate / ceiling,
                independent_samples_per_s=ceiling,
                identical=len(digests) == 1,
                digests=digests,
                loss=tuple(r.loss for r in together),
                update_norm=together[0].update_norm,
            )
        )
    return rows
