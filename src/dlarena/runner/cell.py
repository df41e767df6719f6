"""One cell: run one worker process for it, and merge the processes into one stored result."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dlarena.errors import FrameworkUnavailable
from dlarena.frameworks import RUNTIMES
from dlarena.measure import machine
from dlarena.measure.compare import environment_changes
from dlarena.measure.stats import stability_warnings, summarize
from dlarena.records import CellResult, Memory, ParityCheck, Phases, Threading, WorkerTask
from dlarena.runner import envs
from dlarena.runner.launcher import Outcome, launch
from dlarena.spec.model import Workload


@dataclasses.dataclass(frozen=True)
class Cell:
    workload: Workload
    runtime: str
    tier: str
    mode: str

    @property
    def label(self) -> str:
        return f"{self.workload.name}/{self.runtime}/{self.tier}/{self.mode}"

    def empty(self) -> CellResult:
        """The cell's record before anything ran: failed until a worker says otherwise."""
        return CellResult(
            workload=self.workload.name,
            runtime=self.runtime,
            tier=self.tier,
            mode=self.mode,
            status="failed",
            spec=self.workload.canonical_json(),
            spec_hash=self.workload.content_hash,
            api=RUNTIMES[self.runtime].api_at(self.workload.precision),
        )


OnPhase = Callable[[Cell, str], None]


def run_process(
    cell: Cell,
    task: WorkerTask,
    home: Path,
    env_overrides: dict[str, str],
    timeout_s: float,
    on_phase: OnPhase | None = None,
) -> CellResult:
    """One worker process for the cell; an unavailable framework or a dead worker: failed."""
    record = dataclasses.replace(cell.empty(), threading=task.threading)
    try:
        env = envs.resolve(cell.runtime, home, env_overrides)
    except FrameworkUnavailable as exc:
        return dataclasses.replace(record, reason=str(exc))

    def on_event(event: dict[str, Any], proc: Any) -> None:
        if event["event"] == "progress" and on_phase is not None:
            on_phase(cell, event["phase"])

    started = time.perf_counter()
    outcome = launch(env.python, task, timeout_s, on_event)
    return from_outcome(record, env.name, task, outcome, time.perf_counter() - started)


def from_outcome(
    record: CellResult, env_name: str, task: WorkerTask, outcome: Outcome, wall_s: float
) -> CellResult:
    """The cell's record from one worker process's outcome (`wall_s`: the process's life)."""
    record = dataclasses.replace(
        record, env_name=env_name, exit_code=outcome.exit_code, parity=outcome.parity
    )
    if not outcome.ok or outcome.result is None:
        prefix = f"process {task.process + 1}: " if task.process else ""
        return dataclasses.replace(
            record, reason=f"{prefix}{outcome.reason}", stderr_tail=outcome.stderr_tail
        )
    result = outcome.result
    return dataclasses.replace(
        record,
        status="ok",
        environment=result.environment,
        phases=with_stage(result.phases, "start", wall_s - result.phases.total_s, first=True),
        blocks=result.blocks,
        latency=result.latency,
        load=(result.load,),
        memory=result.memory,
    )


def with_stage(phases: Phases, stage: str, seconds: float, first: bool = False) -> Phases:
    """`phases` with `seconds` more in `stage` (placed first where it is new and `first`)."""
    if seconds <= 0:
        return phases
    return dataclasses.replace(phases, stages=add_stages(phases.stages, ((stage, seconds),), first))


def add_stages(
    a: tuple[tuple[str, float], ...], b: tuple[tuple[str, float], ...], b_first: bool = False
) -> tuple[tuple[str, float], ...]:
    """Two stage lists summed stage by stage, in the order first seen."""
    total: dict[str, float] = dict(b if b_first else a)
    for stage, seconds in a if b_first else b:
        total[stage] = total.get(stage, 0.0) + seconds
    return tuple(total.items())


def task_for(
    cell: Cell, threading: Threading, reference: Path, process: int, **protocol: Any
) -> WorkerTask:
    """The task of one worker process of the cell."""
    return WorkerTask(
        module=RUNTIMES[cell.runtime].module,
        workload=cell.workload.to_dict(),
        tier=cell.tier,
        mode=cell.mode,
        threading=threading,
        reference=str(reference),
        process=process,
        **protocol,
    )


def _worst(checks: tuple[ParityCheck, ...]) -> tuple[ParityCheck, ...]:
    """Per check, the process that differed most from the reference."""
    worst: dict[str, ParityCheck] = {}
    for check in checks:
        if check.check not in worst or check.max_rel > worst[check.check].max_rel:
            worst[check.check] = check
    return tuple(worst.values())


# The run's GEMM peak per compute precision (fp32 always probed on a CPU, bf16 where a cell
# computes in it); None where it could not be measured
Peaks = Mapping[str, float | None]


@dataclasses.dataclass(frozen=True)
class Yardstick:
    """What a cell's throughput is read against: its batch, FLOPs per step, the machine's peak."""

    batch_size: int
    flops_per_step: int = 0
    peak_gflops: float | None = None


def merge(earlier: CellResult | None, part: CellResult, yardstick: Yardstick) -> CellResult:
    """The cell over every process so far: blocks pooled, worst parity, first phases. A process
    that ran in another environment than the earlier ones (another framework version, CPU or
    thread setting: a run resumed after an upgrade) is not pooled: the cell fails, saying what
    changed."""
    pooled = earlier is not None and earlier.status == part.status == "ok"
    changed = environment_changes(earlier, part) if pooled and earlier is not None else []
    if earlier is None:
        merged = part
    elif part.status != "ok" or changed:
        return dataclasses.replace(
            earlier,
            status="failed",
            reason=part.reason if not changed else _changed(changed),
            stderr_tail=part.stderr_tail,
            exit_code=part.exit_code,
        )
    else:
        merged = dataclasses.replace(
            earlier,
            parity=_worst(earlier.parity + part.parity),
            blocks=earlier.blocks + part.blocks,
            latency=earlier.latency + part.latency,
            load=earlier.load + part.load,
            memory=_peak(earlier.memory, part.memory),
            phases=dataclasses.replace(
                earlier.phases, stages=add_stages(earlier.phases.stages, part.phases.stages)
            ),
            reruns=earlier.reruns + part.reruns,
        )
    if merged.status != "ok" or not merged.blocks:
        return merged
    return summarized(merged, yardstick)


def _changed(changes: list[str]) -> str:
    return (
        f"a later process ran in another environment than the earlier ones ({'; '.join(changes)}):"
        " their figures cannot be pooled; measure the cell again in a new run"
    )


def summarized(
    result: CellResult, yardstick: Yardstick, left_out: frozenset[int] = frozenset()
) -> CellResult:
    """The cell's figures and warnings over its blocks, less those of the processes `left_out`
    (kept in the record, not in the figure)."""
    blocks = tuple(b for b in result.blocks if b.process not in left_out)
    summary = summarize(blocks, yardstick.batch_size, _pooled(result.latency))
    gflops = yardstick.flops_per_step * summary.samples_per_s / yardstick.batch_size / 1e9
    peak = yardstick.peak_gflops
    summary = dataclasses.replace(
        summary, gflops=gflops, peak_fraction=gflops / peak if peak else None
    )
    warnings = stability_warnings(summary, blocks)
    warnings += [w for load in result.load if (w := machine.busy_warning(load))][:1]
    steps = sum(b.steps for b in result.blocks)
    malloc = result.threading.malloc if result.threading else "system"
    if faults := machine.fault_warning(result.load, steps, summary.median_ms / 1e3, malloc):
        warnings.append(faults)
    return dataclasses.replace(result, summary=summary, warnings=tuple(warnings))


def _pooled(latency: tuple[tuple[int, tuple[float, ...]], ...]) -> list[tuple[int, list[float]]]:
    sizes: dict[int, list[float]] = {}
    for size, seconds in latency:
        sizes.setdefault(size, []).extend(seconds)
    return sorted(sizes.items())


def _peak(a: Memory | None, b: Memory | None) -> Memory | None:
    if a is None or b is None:
        return a or b
    allocator = [m for m in (a.allocator_peak_mb, b.allocator_peak_mb) if m is not None]
    return Memory(max(a.peak_rss_mb, b.peak_rss_mb), max(allocator) if allocator else None)
