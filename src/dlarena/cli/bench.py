"""bench and runs: measure the matrix, list the runs."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlarena.cli.common import (
    WORKLOAD_HELP,
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
    within,
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

# The work a team chooses a framework for: tabular, vision, and (quick) attention.
DEFAULT_WORKLOADS = ("mlp", "cnn")
QUICK_WORKLOADS = ("mlp", "cnn", "transformer")
QUICK_TIERS = ["compiled"]  # what the performance criterion reads unless a profile says otherwise

if TYPE_CHECKING:
    from dlarena.records import CellResult
    from dlarena.runner.matrix import Cell, Protocol
    from dlarena.store import Store


@app.command()
def bench(
    workload: Annotated[
        list[str],
        typer.Option(
            help=f"{WORKLOAD_HELP} (default: {', '.join(DEFAULT_WORKLOADS)}; with --quick: "
            f"{', '.join(QUICK_WORKLOADS)})"
        ),
    ] = [],
    runtime: Annotated[
        list[str],
        typer.Option(help="runtimes to run; add tensorflow-raw or jax-raw for the raw-op APIs"),
    ] = list(DEFAULT_RUNTIMES),
    size: SizeOpt = "small",
    tier: Annotated[
        list[str],
        typer.Option(
            help="eager and/or compiled (default both; with --quick: compiled, the tier the "
            "decision reads)"
        ),
    ] = [],
    mode: Annotated[list[str], typer.Option(help="train and/or infer")] = list(MODES),
    precision: PrecisionOpt = ["fp32"],
    quick: Annotated[
        bool,
        typer.Option(
            help="the quick profile: one worker process per cell, fewer blocks; by default the "
            "mlp, cnn and transformer in the compiled tier"
        ),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="CPU budget per worker (default: every CPU allowed)"),
    ] = None,
    threading: Annotated[
        str, typer.Option(help="fair: one thread count for all; tuned: each framework's best")
    ] = "fair",
    malloc: Annotated[
        str,
        typer.Option(
            help="keep: freed memory stays with each worker (steady figures); system: the C "
            "library's defaults, as a plain script runs"
        ),
    ] = "keep",
    processes: Annotated[
        int | None,
        typer.Option(min=1, max=100, help="worker processes per cell (default 3, quick 1)"),
    ] = None,
    slow_reruns: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=10,
            help="run a process measured in one of the machine's slow stretches (its GEMM "
            "probe under 85% of the run's best) again up to this many times (default 2; 0: "
            "keep every process as measured, flagged machine_slow)",
        ),
    ] = None,
    isolation: Annotated[
        str | None,
        typer.Option(
            help="paired: the cells compared (one workload and mode, every runtime and tier) run "
            "as live workers side by side and take turns timing blocks, so drift of the machine "
            "hits them all alike; process: each cell's processes alone, one after another "
            "(default: paired here, process on a Dask cluster)"
        ),
    ] = None,
    wait_quiet: Annotated[
        bool, typer.Option(help="before each worker, wait (up to 5 min) for quiet CPUs")
    ] = False,
    timeout: Annotated[
        float, typer.Option(callback=within(1, 86400), help="seconds before a worker is killed")
    ] = 900.0,
    device: Annotated[str, typer.Option(help="cpu, or gpu (CUDA) for every framework")] = "cpu",
    env: Annotated[list[str], typer.Option(help="RUNTIME=ENV, e.g. torch=torch-old")] = [],
    resume: Annotated[
        str | None,
        typer.Option(
            metavar="RUN",
            help="run only the missing cells of an interrupted run (its id, or 'last'), "
            "with its original settings",
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local (this machine), or dask (a Dask cluster: --scheduler)")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="the Dask scheduler, tcp://HOST:PORT (--executor dask)")
    ] = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Run the benchmark matrix: every cell in a fresh worker, parity-gated, stored at once.

    Exit 0 when every cell finished and passed parity, 1 when any failed (the table says which),
    2 for a usage or input error (checked before anything runs), 130 on Ctrl-C."""

    from dlarena.runner.executors import executor_for
    from dlarena.runner.matrix import plan, resume_plan
    from dlarena.spec.loader import BUILTIN, load_workload

    home = envs.dlarena_home()
    db: Store | None = None
    if resume is not None:
        db = open_store(store)
        resumed = resumed_run(db, resume)
        cells, protocol, overrides = resume_plan(db, resumed)
    else:
        resumed = None
        # --size sizes the built-in workloads; a spec file runs as it is written
        chosen = workload or (QUICK_WORKLOADS if quick else DEFAULT_WORKLOADS)
        specs = [load_workload(w, size if w in BUILTIN else "small") for w in chosen]
        specs = at_precisions(specs, precision)
        cells = plan(specs, runtime, tier or (QUICK_TIERS if quick else list(TIERS)), mode)
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
    for name in overrides.values():
        envs.get(name, home)  # an unknown environment is an input error, before any run
    if protocol.isolation == "paired" and executor != "local":
        raise DlarenaError(
            "--isolation paired runs a group's workers side by side on this machine; on a Dask "
            "cluster give --isolation process"
        )
    where = executor_for(executor, scheduler, home, protocol.device)
    if db is None:  # every input checked: only now is a store created
        db = open_store(store, create=True)
    run_id = _measure(db, cells, protocol, (home, overrides, resumed), where, format)
    show_cells(db, run_id, format, title=f"run {run_id}")
    failed = [c.label for c in db.cells(run_id) if not c.ranked]
    if failed:
        err.print(f"[red]{len(failed)} of {len(cells)} cells failed or failed parity[/]")
        raise typer.Exit(1)


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
    from dlarena.measure.compare import api_tax, mixed_speedup
    from dlarena.measure.stats import promised_spread

    cells, info = db.cells(run_id, raw=True), db.run_info(run_id)
    rows, tax, mixed = [cell_row(c) for c in cells], api_tax(cells), mixed_speedup(cells)
    protocol = info["config"]["protocol"]
    spread = promised_spread(protocol["processes"], protocol.get("isolation", "process"))
    spent = time_spent(cells, info)
    if format == Format.json:
        emit_json(
            {
                "run": info, "cells": rows, "api_level": tax, "mixed_precision": mixed,
                "spread": spread, "time_s": spent,
            }
        )  # fmt: skip
        return
    table = ([fmt(r[c]) for c in SUMMARY_COLUMNS] for r in rows)
    print_table(title, SUMMARY_COLUMNS, table, spread)
    out.print(time_line(spent), highlight=False, soft_wrap=True)
    if tax:
        rows_tax = ([fmt(r[c]) for c in TAX_COLUMNS] for r in tax)
        print_table("API level: raw ops vs layer library", TAX_COLUMNS, rows_tax, TAX_NOTE)
    if mixed:
        rows_mixed = ([fmt(r[c]) for c in MIXED_COLUMNS] for r in mixed)
        print_table("Mixed precision against float32", MIXED_COLUMNS, rows_mixed, MIXED_NOTE)


@app.command()
def runs(store: StoreOpt = None, format: FormatOpt = Format.table) -> None:
    """Every run in the store, newest first: status (running, finished or interrupted: its host
    is gone; resume it with 'dlarena bench --resume RUN') and how many cells it kept."""
    import time

    listed = open_store(store).runs()
    if format == Format.json:
        emit_json(listed)
        return
    print_table(
        "runs",
        ("run", "started", "status", "cells", "git_sha"),
        (
            [
                str(r["id"]),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started_at"])),
                r["status"],
                str(r["cells"]),
                fmt(r["git_sha"]),
            ]
            for r in listed
        ),
    )
