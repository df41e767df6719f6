"""One benchmark run as it goes: the processes it starts for each cell, the slow-stretch
guard over them, and the references they read (runner/matrix.py runs the rounds)."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlarena.errors import DlarenaError
from dlarena.measure import machine
from dlarena.measure.machine import SLOW_PROBE
from dlarena.records import CellResult, Threading
from dlarena.runner import threads
from dlarena.runner.cell import (
    Cell,
    OnPhase,
    Peaks,
    Yardstick,
    merge,
    summarized,
    task_for,
    with_stage,
)
from dlarena.runner.executors import Executor, LocalExecutor
from dlarena.runner.paired import run_group
from dlarena.runner.reference import ambiguity_warnings, write_reference
from dlarena.spec.flops import step_flops
from dlarena.spec.model import Workload
from dlarena.store import Store

if TYPE_CHECKING:
    from dlarena.runner.matrix import Protocol

# A tuned sweep trial: enough to rank settings, not to publish a figure.
SWEEP = {"warmup": 2, "blocks": 3, "min_block_s": 0.1, "latency_s": 0.0}


@dataclasses.dataclass
class MatrixRun:
    """What one run needs for each process it starts."""

    store: Store
    run_id: int
    protocol: Protocol
    executor: Executor
    env_overrides: dict[str, str]
    on_phase: OnPhase | None
    references: dict[str, Path] = dataclasses.field(default_factory=dict)
    slow: machine.SlowGuard = dataclasses.field(default_factory=machine.SlowGuard)
    ambiguous: dict[str, int] = dataclasses.field(default_factory=dict)
    # seconds each reference took to write, counted to the first cell that used it
    reference_s: dict[str, float] = dataclasses.field(default_factory=dict)

    def reference(self, workload: Workload) -> Path:
        """One reference per spec content, in the run's own folder beside the store."""
        key = workload.content_hash
        if key not in self.references:
            path = self.store.reference_dir(self.run_id) / f"{key}.npz"
            started = time.perf_counter()
            try:
                self.ambiguous[key] = write_reference(workload, path, self.protocol.timeout_s)
            except OSError as exc:
                raise DlarenaError(
                    f"cannot write the parity reference {path} ({exc.strerror}); free disk "
                    "space or give --store a writable folder"
                ) from None
            self.references[key] = path
            self.reference_s[key] = time.perf_counter() - started
        return self.references[key]

    def parity_warnings(self, cell: Cell) -> tuple[str, ...]:
        return ambiguity_warnings(self.ambiguous.get(cell.workload.content_hash, 0), cell.mode)

    def process(self, cell: Cell, threading: Threading, index: int, **fields: Any) -> CellResult:
        if self.protocol.wait_quiet_s > 0:
            machine.wait_quiet(self.protocol.wait_quiet_s)
        worker = {**self.protocol.worker_fields(), **fields}
        task = task_for(cell, threading, self.reference(cell.workload), index, **worker)
        timeout_s = self.protocol.timeout_s
        return self.executor.run(cell, task, self.env_overrides, timeout_s, self.progress)

    def progress(self, cell: Cell, phase: str) -> None:
        """A worker's progress: the host is alive (the run is not 'interrupted'); shown."""
        self.store.beat(self.run_id)
        if self.on_phase is not None:
            self.on_phase(cell, phase)

    def measure(
        self,
        cell: Cell,
        setting: Threading,
        index: int,
        before: CellResult | None,
        sha: str | None,
        peak: Peaks,
    ) -> CellResult:
        """One more worker process of the cell, merged with its earlier ones. A process that
        ran in one of the machine's slow stretches (its GEMM probe under SLOW_PROBE of the run's
        best for the same runtime and thread count) is run again (SlowGuard.steady)."""
        started = time.perf_counter()
        part, reruns = self.slow.steady(
            functools.partial(self.process, cell, setting, index),
            (cell.runtime, setting.intra_op),
            calibrate=self.protocol.processes > 1,  # the quick profile does without
            retries=self.protocol.slow_reruns,
        )
        reruns_s = time.perf_counter() - started - part.phases.total_s if reruns else 0.0
        return self.merged(cell, part, before, sha, peak, reruns, reruns_s)

    def merged(
        self,
        cell: Cell,
        part: CellResult,
        before: CellResult | None,
        sha: str | None,
        peak: Peaks,
        reruns: int = 0,
        reruns_s: float = 0.0,
    ) -> CellResult:
        """One more process of the cell merged with its earlier ones, the reference's seconds
        counted to the first cell that used it."""
        reference_s = self.reference_s.pop(cell.workload.content_hash, 0.0)
        phases = with_stage(part.phases, "reference", reference_s, first=True)
        phases = with_stage(phases, "reruns", reruns_s - reference_s if reruns else 0.0)
        environment = dataclasses.replace(part.environment, dlarena_git_sha=sha)
        part = dataclasses.replace(part, environment=environment, reruns=reruns, phases=phases)
        merged = merge(before, part, _yardstick(cell, peak))
        warnings = tuple(dict.fromkeys(merged.warnings + self.parity_warnings(cell)))
        return dataclasses.replace(merged, warnings=warnings)

    def paired(
        self,
        cells: dict[int, Cell],
        settings: dict[int, Threading],
        index: int,
        results: dict[int, CellResult],
        sha: str | None,
        peak: Peaks,
    ) -> Iterator[tuple[int, CellResult]]:
        """One more process of each cell, a group (the same spec and mode: every runtime and
        tier) at a time, the group's workers live side by side and taking turns
        (runner/paired.py)."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, cell in cells.items():
            groups.setdefault((cell.workload.content_hash, cell.mode), []).append(i)
        for members in groups.values():
            if self.protocol.wait_quiet_s > 0:
                machine.wait_quiet(self.protocol.wait_quiet_s)
            worker = {**self.protocol.worker_fields(), "paired": True}
            # a turn: at least turn_s, and 10 steps where 10 fit in a process run's block
            worker["min_block_s"] = self.protocol.turn_s
            worker["steps_within_s"] = self.protocol.min_block_s
            tasks = []
            for i in members:
                setting = settings.setdefault(i, self.threading(cells[i]))
                reference = self.reference(cells[i].workload)
                tasks.append((cells[i], task_for(cells[i], setting, reference, index, **worker)))
            assert isinstance(self.executor, LocalExecutor)  # the CLI refuses paired elsewhere
            parts = run_group(
                tasks, self.executor.home, self.env_overrides, self.protocol.timeout_s,
                self.protocol.blocks, self.progress, self.protocol.paired_s,
            )  # fmt: skip
            for i, part in zip(members, parts, strict=True):
                if part.status == "ok":  # the best probe per runtime: absolute figures' guard
                    self.slow.slowdown((part.runtime, settings[i].intra_op), part.probes)
                yield i, self.merged(cells[i], part, results.get(i), sha, peak)

    def round(
        self,
        cells: dict[int, Cell],
        settings: dict[int, Threading],
        index: int,
        results: dict[int, CellResult],
        sha: str | None,
        peak: Peaks,
    ) -> Iterator[tuple[int, CellResult]]:
        """One more process of each cell, in the matrix's order; on an executor that runs several
        cells at once, as many at a time, each yielded as it finishes."""

        def one(i: int) -> tuple[int, CellResult]:
            setting = settings.setdefault(i, self.threading(cells[i]))
            return i, self.measure(cells[i], setting, index, results.get(i), sha, peak)

        if self.protocol.isolation == "paired":
            yield from self.paired(cells, settings, index, results, sha, peak)
            return
        if self.executor.width == 1:
            yield from map(one, cells)
            return
        for cell in cells.values():
            self.reference(cell.workload)  # written here, before the threads read them
        pool = ThreadPoolExecutor(self.executor.width, thread_name_prefix="dlarena-cell")
        try:
            for done in as_completed([pool.submit(one, i) for i in cells]):
                self.store.beat(self.run_id)
                yield done.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def slow_processes(self, result: CellResult) -> frozenset[int]:
        """The cell's processes that ran in one of the machine's slow stretches: their GEMM probe
        under SLOW_PROBE of the best this run saw beside the same runtime and thread count."""
        threads = result.threading.intra_op if result.threading else 0
        best = self.slow.best.get((result.runtime, threads))
        processes = sorted({b.process for b in result.blocks})
        return frozenset(
            process
            for process, load in zip(processes, result.load, strict=False)
            if best and load.probe_gflops is not None and load.probe_gflops < SLOW_PROBE * best
        )

    def short(self, result: CellResult, slow: frozenset[int] | None = None) -> bool:
        """Fewer processes outside slow stretches (`slow`, found if not given) than the protocol
        asks for."""
        if result.status != "ok" or not result.blocks:
            return False
        slow = self.slow_processes(result) if slow is None else slow
        return (
            bool(slow) and len({b.process for b in result.blocks} - slow) < self.protocol.processes
        )

    def make_up(
        self,
        cells: list[Cell],
        results: dict[int, CellResult],
        sha: str | None,
        peak: Peaks,
        done: frozenset[int] = frozenset(),
    ) -> Iterator[tuple[int, CellResult]]:
        """A process that ran in a slow stretch is made up by another at the end of the run (a
        stretch can last minutes, so the one started right after it is often slow too), up to
        `protocol.slow_reruns` more per cell (not the cells `done` before a resume); `results` is
        updated as each one comes. A one-process protocol (the quick profile) has no make-up: it
        states its spread instead; nor has paired isolation (a cell run alone has no pair)."""
        if self.protocol.processes < 2 or self.protocol.isolation == "paired":
            return
        for _ in range(self.protocol.slow_reruns):
            for i in [i for i, result in results.items() if i not in done and self.short(result)]:
                before = results[i]
                assert before.threading is not None
                index = len({b.process for b in before.blocks})
                after = self.measure(cells[i], before.threading, index, before, sha, peak)
                results[i] = dataclasses.replace(after, reruns=after.reruns + 1)
                yield i, results[i]

    def settle(self, cell: Cell, result: CellResult, peak: Peaks) -> CellResult:
        """The cell's figure without its slow-stretch processes where enough others remain;
        otherwise over all of them, with a machine_slow warning (judged at the end of the run,
        against the best probe the whole run saw)."""
        slow = self.slow_processes(result)
        if result.status != "ok" or not slow:
            return result
        enough = not self.short(result, slow)
        settled = summarized(result, _yardstick(cell, peak), slow if enough else frozenset())
        warnings = settled.warnings + self.parity_warnings(cell)
        if not enough:
            threads = result.threading.intra_op if result.threading else 0
            ratio = self.slow.slowdown((result.runtime, threads), result.probes)
            why = (
                "its ratios to the cells it took turns with hold; its own figure, compare with care"
                if self.protocol.isolation == "paired"
                else "the machine had a slow stretch that outlasted the processes run again; "
                "compare with care, or rerun the cell"
            )
            warnings += (
                f"machine_slow: a float32 GEMM probe on this cell's CPUs ran at {ratio:.0%} of "
                f"the best this run saw beside the same runtime while a worker measured ({why})",
            )
        return dataclasses.replace(settled, warnings=tuple(dict.fromkeys(warnings)))

    def threading(self, cell: Cell) -> Threading:
        if self.protocol.threading == "fair":
            return threads.fair(self.protocol.threads, self.protocol.malloc)

        def trial(setting: Threading) -> float | None:
            yardstick = Yardstick(cell.workload.batch_size)
            result = merge(None, self.process(cell, setting, 0, **SWEEP), yardstick)
            return result.samples_per_s if result.ranked else None

        return threads.tune(cell.runtime, self.protocol.threads, trial, self.protocol.malloc)


def _yardstick(cell: Cell, peak: Peaks) -> Yardstick:
    """The cell's batch and FLOPs, and the run's GEMM peak at the cell's precision."""
    return Yardstick(
        cell.workload.batch_size,
        step_flops(cell.workload, cell.mode),
        peak.get(cell.workload.precision),
    )
