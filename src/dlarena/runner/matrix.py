"""The benchmark matrix: workloads x runtimes x tiers x modes, several worker processes per
cell, interleaved in rounds so slow drift of the machine spreads over every framework."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError
from dlarena.frameworks import MODES, RUNTIMES, TIERS
from dlarena.measure import machine
from dlarena.measure.peak import probe as probe_peak
from dlarena.records import CellResult, Threading
from dlarena.runner import threads
from dlarena.runner.cell import Cell, OnPhase, Yardstick, merge, run_process, task_for
from dlarena.runner.launcher import SRC_DIR
from dlarena.runner.reference import write_reference
from dlarena.runner.threads import all_cpus
from dlarena.spec.flops import step_flops
from dlarena.spec.model import Workload
from dlarena.store import Store

__all__ = ["PROFILES", "Cell", "Protocol", "plan", "run_matrix", "write_reference"]


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How each cell is measured; the same for every framework."""

    threads: int = dataclasses.field(default_factory=all_cpus)
    threading: str = "fair"  # fair | tuned
    processes: int = 3  # worker processes per cell, in rounds across the matrix
    warmup: int = 5
    blocks: int = 10  # per process
    min_block_s: float = 0.2
    min_block_steps: int = 10
    latency_s: float = 0.3
    timeout_s: float = 900.0
    device: str = "cpu"
    wait_quiet_s: float = 0.0  # > 0: before each process, wait up to this for quiet CPUs

    def worker_fields(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "warmup": self.warmup,
            "blocks": self.blocks,
            "min_block_s": self.min_block_s,
            "min_block_steps": self.min_block_steps,
            "latency_s": self.latency_s,
        }


PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {"processes": 1, "warmup": 3, "blocks": 5, "latency_s": 0.2},
}
# A tuned sweep trial: enough to rank settings, not to publish a figure.
SWEEP = {"warmup": 2, "blocks": 3, "min_block_s": 0.1, "latency_s": 0.0}


def plan(
    workloads: list[Workload], runtimes: list[str], tiers: list[str], modes: list[str]
) -> list[Cell]:
    """Every cell that exists: ONNX Runtime has no training, for example."""
    for name, known, kind in (
        (runtimes, RUNTIMES, "runtime"),
        (tiers, TIERS, "tier"),
        (modes, MODES, "mode"),
    ):
        for value in name:
            if value not in known:
                raise DlarenaError(f"unknown {kind} '{value}'; choose from {', '.join(known)}")
    return [
        Cell(w, r, t, m)
        for w, r, t, m in itertools.product(workloads, runtimes, tiers, modes)
        if m in RUNTIMES[r].modes and t in RUNTIMES[r].tiers
    ]


def git_sha() -> str | None:
    proc = subprocess.run(
        ["git", "-C", SRC_DIR, "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or None


OnCell = Callable[[Cell, CellResult], None]


@dataclasses.dataclass
class _Run:
    """What one run needs for each process it starts."""

    store: Store
    run_id: int
    protocol: Protocol
    home: Path
    env_overrides: dict[str, str]
    on_phase: OnPhase | None
    references: dict[str, Path] = dataclasses.field(default_factory=dict)
    ambiguous: dict[str, int] = dataclasses.field(default_factory=dict)

    def reference(self, workload: Workload) -> Path:
        """One reference per spec content, in the run's own folder beside the store."""
        key = workload.content_hash
        if key not in self.references:
            self.references[key] = self.store.reference_dir(self.run_id) / f"{key}.npz"
            self.ambiguous[key] = write_reference(workload, self.references[key])
        return self.references[key]

    def parity_warnings(self, cell: Cell) -> tuple[str, ...]:
        rows = self.ambiguous.get(cell.workload.content_hash, 0)
        if not rows or cell.mode != "train":
            return ()
        return (
            f"parity_ambiguous: {rows} rows of the parity batch keep a decision within float32 "
            "rounding of its boundary; a training check may fail a correct framework",
        )

    def process(self, cell: Cell, threading: Threading, index: int, **fields: Any) -> CellResult:
        if self.protocol.wait_quiet_s > 0:
            machine.wait_quiet(self.protocol.wait_quiet_s)
        worker = {**self.protocol.worker_fields(), **fields}
        task = task_for(cell, threading, self.reference(cell.workload), index, **worker)
        return run_process(
            cell, task, self.home, self.env_overrides, self.protocol.timeout_s, self.on_phase
        )

    def threading(self, cell: Cell) -> Threading:
        if self.protocol.threading == "fair":
            return threads.fair(self.protocol.threads)

        def trial(setting: Threading) -> float | None:
            yardstick = Yardstick(cell.workload.batch_size)
            result = merge(None, self.process(cell, setting, 0, **SWEEP), yardstick)
            return result.samples_per_s if result.ranked else None

        return threads.tune(cell.runtime, self.protocol.threads, trial)


def run_matrix(
    store: Store,
    cells: list[Cell],
    protocol: Protocol,
    home: Path,
    env_overrides: dict[str, str],
    on_cell: OnCell,
    on_phase: OnPhase | None = None,
) -> int:
    """Run every cell `protocol.processes` times, in rounds; each cell is committed to the store
    after every process, so an interrupted run keeps everything measured so far.

    `home` holds the environments; reference files go beside the store, one folder per run,
    one file per spec content hash (same-named specs never share one).
    """
    sha = git_sha()
    peak = probe_peak(threads.fair(protocol.threads)) if protocol.device == "cpu" else None
    config = {
        "protocol": dataclasses.asdict(protocol),
        "cells": [c.label for c in cells],
        "env_overrides": env_overrides,
        "peak_gflops": peak,
    }
    run = _Run(store, store.start_run(config, sha), protocol, home, env_overrides, on_phase)
    results: dict[int, CellResult] = {}
    cell_ids: dict[int, int] = {}
    settings: dict[int, Threading] = {}
    status = "interrupted"
    try:
        for index in range(protocol.processes):
            for i, cell in enumerate(cells):
                if i in results and results[i].status != "ok":
                    continue  # a failed cell is not run again
                setting = settings.setdefault(i, run.threading(cell))
                part = run.process(cell, setting, index)
                part = dataclasses.replace(
                    part,
                    environment=dataclasses.replace(part.environment, dlarena_git_sha=sha),
                )
                yardstick = Yardstick(
                    cell.workload.batch_size, step_flops(cell.workload, cell.mode), peak
                )
                merged = merge(results.get(i), part, yardstick)
                warnings = tuple(dict.fromkeys(merged.warnings + run.parity_warnings(cell)))
                results[i] = dataclasses.replace(merged, warnings=warnings)
                cell_ids[i] = store.save_cell(run.run_id, results[i], cell_ids.get(i))
                on_cell(cell, results[i])
        status = "finished"
    finally:
        store.finish_run(run.run_id, status)
    return run.run_id
