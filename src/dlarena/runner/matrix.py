"""The benchmark matrix: workloads x runtimes x tiers x modes, several worker processes per
cell, interleaved in rounds so slow drift of the machine spreads over every framework."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError, FrameworkUnavailable, Interrupted
from dlarena.frameworks import MODES, RUNTIMES, TIERS
from dlarena.records import CellResult, Threading
from dlarena.run_records import Protocol, RunConfig
from dlarena.runner import envs, threads
from dlarena.runner.cell import (
    Cell,
    OnPhase,
    Peaks,
)
from dlarena.runner.executors import Executor, LocalExecutor
from dlarena.runner.once import probe_peak
from dlarena.runner.process import SRC_DIR
from dlarena.runner.reference import write_reference
from dlarena.runner.run import MatrixRun
from dlarena.spec.model import Workload
from dlarena.store import Store

__all__ = ["PROFILES", "Cell", "Protocol", "plan", "resume_plan", "run_matrix", "write_reference"]


ISOLATION = ("paired", "process")

PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {
        "processes": 1,
        "warmup": 3,
        "blocks": 5,
        "latency_s": 0.2,
        "peak_s": 0.25,
        "paired_s": 0.0,
    },
}


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


def run_matrix(
    store: Store,
    cells: list[Cell],
    protocol: Protocol,
    home: Path,
    env_overrides: dict[str, str],
    on_cell: OnCell,
    on_phase: OnPhase | None = None,
    resume: int | None = None,
    executor: Executor | None = None,
) -> int:
    """Run every cell `protocol.processes` times, in rounds; each cell is committed to the store
    after every process, so an interrupted run keeps everything measured so far. `resume`: the
    id of an interrupted run whose missing cells to run (see `resume_plan`). `home` holds the
    environments; reference files go beside the store, one folder per run, one file per spec
    content hash. `executor`: where the workers run (default: this machine, one at a time)."""
    sha = git_sha()
    run_id, peak, finished = _begin(store, cells, protocol, (home, env_overrides), resume, sha)
    run = MatrixRun(
        store, run_id, protocol, executor or LocalExecutor(home), env_overrides, on_phase
    )
    settings: dict[int, Threading] = {}
    results, cell_ids = _carried_over(cells, finished, protocol)
    for i in results:
        on_cell(cells[i], results[i])
    skip = set(results)

    def save(i: int, result: CellResult, announce: bool = True) -> None:
        cell_ids[i] = store.save_cell(run.run_id, result, cell_ids.get(i))
        if announce:
            on_cell(cells[i], result)

    status = "interrupted"
    try:
        for index in range(protocol.processes):
            todo = {  # not done before a resume, not failed (a failed cell is not run again)
                i: cell
                for i, cell in enumerate(cells)
                if i not in skip and (i not in results or results[i].status == "ok")
            }
            for i, result in run.round(todo, settings, index, results, sha, peak):
                results[i] = result
                save(i, result)
        for i, result in run.make_up(cells, results, sha, peak, frozenset(skip)):
            save(i, result)
        for i, result in results.items():
            settled = run.settle(cells[i], result, peak)
            if settled is not result and i in cell_ids:
                results[i] = settled
                save(i, settled, announce=False)
        status = "finished"
    except KeyboardInterrupt:
        raise _interrupted(run_id, len(cell_ids), resume, store) from None
    finally:
        if resume is None and not cell_ids:
            _forget(store, run_id)  # nothing measured: no empty run becomes 'the latest'
        else:
            store.finish_run(run.run_id, status)
    return run.run_id


def _interrupted(run_id: int, kept: int, resume: int | None, store: Store) -> Interrupted:
    """What Ctrl-C says: what the run keeps, and the command that measures the rest."""
    if not kept and resume is None:
        return Interrupted("interrupted before any cell finished; nothing was stored")
    return Interrupted(
        f"interrupted: run {run_id} keeps {kept} cells measured; run the rest "
        f"with: dlarena bench --resume {run_id} --store {store.path}"
    )


def _begin(
    store: Store,
    cells: list[Cell],
    protocol: Protocol,
    where: tuple[Path, dict[str, str]],
    resume: int | None,
    sha: str | None,
) -> tuple[int, Peaks, dict[tuple[str, str, str, str], CellResult]]:
    """A new run (after the machine's GEMM peak probes), or the resumed one and what it holds.
    `where`: the data folder and the runtimes' environment overrides."""
    if resume is None:
        started = time.perf_counter()
        peak = _probe_peaks(cells, protocol, *where) if protocol.device == "cpu" else {}
        config = _config(cells, protocol, where[1], peak, time.perf_counter() - started)
        return store.start_run(config, sha), peak, {}
    store.claim_run(resume)
    peak = store.run_info(resume).config.peaks
    return resume, peak, {_key(c): c for c in store.cells(resume)}


def _probe_peaks(
    cells: list[Cell], protocol: Protocol, home: Path, env_overrides: dict[str, str]
) -> dict[str, float | None]:
    """The float32 GEMM peak, and bfloat16's (through PyTorch's environment) where a cell
    computes in bfloat16: each cell's percent of peak is read at its own precision."""
    fair = threads.fair(protocol.threads, protocol.malloc)
    peak = {"fp32": probe_peak(fair, protocol.peak_s)}
    if any(c.workload.precision == "bf16" for c in cells):
        try:
            python = envs.resolve("torch", home, env_overrides).python
        except FrameworkUnavailable:
            python = None
        peak["bf16"] = probe_peak(fair, protocol.peak_s, "bf16", python) if python else None
    return peak


def _carried_over(
    cells: list[Cell], finished: dict[tuple[str, str, str, str], CellResult], protocol: Protocol
) -> tuple[dict[int, CellResult], dict[int, int]]:
    """From a resumed run: the complete cells (kept) and the ids of cells cut short (measured
    again from their first process, in place)."""
    results, cell_ids = {}, {}
    for i, cell in enumerate(cells):
        before = finished.get((cell.workload.content_hash, cell.runtime, cell.tier, cell.mode))
        if before is not None and _complete(before, protocol):
            results[i] = before
        elif before is not None and before.id is not None:
            cell_ids[i] = before.id
    return results, cell_ids


def _key(cell: CellResult) -> tuple[str, str, str, str]:
    return (cell.spec_hash or cell.workload, cell.runtime, cell.tier, cell.mode)


def _complete(cell: CellResult, protocol: Protocol) -> bool:
    """A stored cell a resume keeps: it failed for good, or has every process it asked for."""
    return cell.status != "ok" or (
        cell.summary is not None and cell.summary.processes >= protocol.processes
    )


def _config(
    cells: list[Cell],
    protocol: Protocol,
    env_overrides: dict[str, str],
    peak: Peaks,
    probe_s: float,
) -> RunConfig:
    """What a run records to be read, compared and resumed: the protocol and the plan, with
    every spec by content hash."""
    return RunConfig(
        protocol=protocol,
        cells=tuple(c.label for c in cells),
        plan=tuple((c.workload.content_hash, c.runtime, c.tier, c.mode) for c in cells),
        specs={c.workload.content_hash: c.workload.to_dict() for c in cells},
        env_overrides=dict(env_overrides),
        peak_gflops=peak.get("fp32"),
        peak_gflops_bf16=peak.get("bf16"),
        peak_probe_s=probe_s,
    )


def _forget(store: Store, run_id: int) -> None:
    store.forget_run(run_id)
    shutil.rmtree(store.reference_dir(run_id), ignore_errors=True)


def resume_plan(store: Store, run_id: int) -> tuple[list[Cell], Protocol, dict[str, str]]:
    """The cells, protocol and environments of an interrupted run, to run what it is missing."""
    from dlarena.spec.schema import spec_from_dict

    info = store.run_info(run_id)
    if info.status == "finished":
        raise DlarenaError(f"run {run_id} finished; there is nothing to resume")
    if info.status == "running":
        raise DlarenaError(f"run {run_id} is still running (its host process is alive)")
    config = info.config
    if not config.plan:
        raise DlarenaError(f"run {run_id} was made by an older dlarena that cannot resume it")
    specs = {h: spec_from_dict(d, f"run {run_id}") for h, d in config.specs.items()}
    cells = [Cell(specs[h], r, t, m) for h, r, t, m in config.plan]
    return cells, config.protocol, dict(config.env_overrides)
