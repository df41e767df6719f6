"""bench and runs: measure the matrix, list the runs."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dlarena.cli.bench_options import (
    DEFAULT_WORKLOADS,
    QUICK_TIERS,
    QUICK_WORKLOADS,
    DeviceOpt,
    EnvOpt,
    ExecutorOpt,
    IsolationOpt,
    MallocOpt,
    ModeOpt,
    ProcessesOpt,
    QuickOpt,
    ResumeOpt,
    RuntimeOpt,
    SchedulerOpt,
    SlowRerunsOpt,
    ThreadingOpt,
    ThreadsOpt,
    TierOpt,
    TimeoutOpt,
    WaitQuietOpt,
    WorkloadOpt,
)
from dlarena.cli.common import (
    Format,
    FormatOpt,
    PrecisionOpt,
    SizeOpt,
    StoreOpt,
    app,
    at_precisions,
    emit_json,
    err,
    open_store,
    out,
    parse_pairs,
    print_table,
)
from dlarena.cli.protocol import bench_protocol, resumed_run
from dlarena.errors import DlarenaError
from dlarena.frameworks import DEFAULT_RUNTIMES, MODES, RUNTIMES, TIERS
from dlarena.report.rows import (
    MIXED_COLUMNS,
    MIXED_NOTE,
    SUMMARY_COLUMNS,
    TAX_COLUMNS,
    TAX_NOTE,
    cell_row,
    fmt,
    time_line,
    time_spent,
)
from dlarena.runner import envs

if TYPE_CHECKING:
    from dlarena.records import CellResult
    from dlarena.runner.matrix import Cell, Protocol
    from dlarena.store import Store


@app.command()
def bench(
    workload: WorkloadOpt = [],
    runtime: RuntimeOpt = list(DEFAULT_RUNTIMES),
    size: SizeOpt = "small",
    tier: TierOpt = [],
    mode: ModeOpt = list(MODES),
    precision: PrecisionOpt = ["fp32"],
    quick: QuickOpt = False,
    threads: ThreadsOpt = None,
    threading: ThreadingOpt = "fair",
    malloc: MallocOpt = "keep",
    processes: ProcessesOpt = None,
    slow_reruns: SlowRerunsOpt = None,
    isolation: IsolationOpt = None,
    wait_quiet: WaitQuietOpt = False,
    timeout: TimeoutOpt = 900.0,
    device: DeviceOpt = "cpu",
    env: EnvOpt = [],
    resume: ResumeOpt = None,
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Run the benchmark matrix: every cell in a fresh worker, parity-gated, stored at once.

    Exit 0 when every cell finished and passed parity, 1 when any failed (the table says which),
    2 for a usage or input error (checked before anything runs), 130 on Ctrl-C."""

    from dlarena.runner.matrix import resume_plan

    home = envs.dlarena_home()
    db: Store | None = None
    if resume is not None:
        db = open_store(store)
        resumed = resumed_run(db, resume)
        cells, protocol, overrides = resume_plan(db, resumed)
    else:
        resumed = None
        cells = _new_cells(workload, size, precision, (runtime, tier, mode), quick)
        protocol = bench_protocol(
            quick,
            threads,
            (threading, malloc, isolation or ("process" if executor == "dask" else "paired")),
            (processes, slow_reruns),
            wait_quiet,
            timeout,
            device,
        )
        overrides = parse_pairs(env, "--env", RUNTIMES)
    where = _executor(executor, scheduler, protocol, home, overrides)
    if db is None:  # every input checked: only now is a store created
        db = open_store(store, create=True)
    run_id = _measure(db, cells, protocol, (home, overrides, resumed), where, format)
    show_cells(db, run_id, format, title=f"run {run_id}")
    failed = [c.label for c in db.cells(run_id) if not c.ranked]
    if failed:
        err.print(f"[red]{len(failed)} of {len(cells)} cells failed or failed parity[/]")
        raise typer.Exit(1)


def _executor(
    executor: str, scheduler: str | None, protocol: Protocol, home: Path, overrides: dict[str, str]
) -> Any:
    """Where the cells run, once every input is known to be good: an unknown environment or
    paired isolation on a cluster is an input error before any run."""
    from dlarena.runner.executors import executor_for

    for name in overrides.values():
        envs.get(name, home)
    if protocol.isolation == "paired" and executor != "local":
        raise DlarenaError(
            "--isolation paired runs a group's workers side by side on this machine; on a Dask "
            "cluster give --isolation process"
        )
    return executor_for(executor, scheduler, home, protocol.device)


def _new_cells(
    workload: list[str],
    size: str,
    precision: list[str],
    axes: tuple[list[str], list[str], list[str]],
    quick: bool,
) -> list[Cell]:
    """The cells of a new run: each workload (--size sizes the built-in ones; a spec file runs
    as it is written) at each precision, over `axes` (runtimes, tiers, modes)."""
    from dlarena.runner.matrix import plan
    from dlarena.spec.loader import BUILTIN, load_workload

    runtime, tier, mode = axes
    chosen = workload or (QUICK_WORKLOADS if quick else DEFAULT_WORKLOADS)
    specs = [load_workload(w, size if w in BUILTIN else "small") for w in chosen]
    specs = at_precisions(specs, precision)
    return plan(specs, runtime, tier or (QUICK_TIERS if quick else list(TIERS)), mode)


def _measure(
    db: Store,
    cells: list[Cell],
    protocol: Protocol,
    setting: tuple[Path, dict[str, str], int | None],
    where: Any,
    format: Format,
) -> int:
    """Runs the matrix with a progress bar (its cells and phases); returns the run's id.
    `setting`: the data folder, the runtimes' environment overrides and the run resumed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dlarena.runner.matrix import run_matrix

    home, overrides, resumed = setting
    with (
        contextlib.closing(where),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=format == Format.json,
        ) as bar,
    ):
        task = bar.add_task("starting", total=len(cells) * protocol.processes)

        def on_phase(cell: Cell, phase: str) -> None:
            bar.update(task, description=f"{cell.label} [dim]{phase}[/]")

        def on_cell(cell: Cell, result: CellResult) -> None:
            bar.advance(task)
            if result.status != "ok":
                err.print(f"[red]failed[/] {result.label}: {result.reason}")

        run_id = run_matrix(
            db, cells, protocol, home, overrides, on_cell, on_phase, resumed, executor=where
        )
    return run_id


def show_cells(db: Store, run_id: int, format: Format, title: str) -> None:
    from dlarena.codec import encode
    from dlarena.measure.pairs import api_tax, mixed_speedup
    from dlarena.measure.stats import promised_spread

    cells, info = db.cells(run_id, raw=True), db.run_info(run_id)
    rows, tax, mixed = [cell_row(c) for c in cells], api_tax(cells), mixed_speedup(cells)
    protocol = info.config.protocol
    spread = promised_spread(protocol.processes, protocol.isolation)
    spent = time_spent(cells, info)
    if format == Format.json:
        emit_json(
            {
                "run": encode(info),
                "cells": [r.as_dict() for r in rows],
                "api_level": [r.as_dict() for r in tax],
                "mixed_precision": [r.as_dict() for r in mixed],
                "spread": spread,
                "time_s": spent,
            }
        )
        return
    table = ([fmt(getattr(r, c)) for c in SUMMARY_COLUMNS] for r in rows)
    print_table(title, SUMMARY_COLUMNS, table, spread)
    out.print(time_line(spent), highlight=False, soft_wrap=True)
    if tax:
        rows_tax = ([fmt(getattr(r, c)) for c in TAX_COLUMNS] for r in tax)
        print_table("API level: raw ops vs layer library", TAX_COLUMNS, rows_tax, TAX_NOTE)
    if mixed:
        rows_mixed = ([fmt(getattr(r, c)) for c in MIXED_COLUMNS] for r in mixed)
        print_table("Mixed precision against float32", MIXED_COLUMNS, rows_mixed, MIXED_NOTE)


@app.command()
def runs(store: StoreOpt = None, format: FormatOpt = Format.table) -> None:
    """Every run in the store, newest first: status (running, finished or interrupted: its host
    is gone; resume it with 'dlarena bench --resume RUN') and how many cells it kept."""
    import time

    from dlarena.codec import encode

    listed = open_store(store).runs()
    if format == Format.json:
        emit_json(encode(listed))
        return
    print_table(
        "runs",
        ("run", "started", "status", "cells", "git_sha"),
        (
            [
                str(r.id),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started_at)),
                r.status,
                str(r.cells),
                fmt(r.git_sha),
            ]
            for r in listed
        ),
    )
