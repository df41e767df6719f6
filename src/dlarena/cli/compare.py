"""compare and spread: runs cell by cell, two with significance, or repeated ones."""

from __future__ import annotations

import statistics
from typing import Annotated

import typer

from dlarena.cli.common import (
    Format,
    FormatOpt,
    StoreOpt,
    app,
    emit_json,
    open_store,
    out,
    print_table,
)


@app.command()
def compare(
    run_a: Annotated[int, typer.Argument(help="the baseline run")],
    run_b: Annotated[int, typer.Argument(help="the run compared with it")],
    force: Annotated[bool, typer.Option(help="compare runs from different environments")] = False,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Per cell: throughput of run B over run A, its 95% CI, a bootstrap p-value and the
    verdict; and the geometric mean. Runs from different environments are refused."""
    from dlarena.codec import encode
    from dlarena.errors import DlarenaError
    from dlarena.measure.compare import compare_stored

    db = open_store(store)
    for run in (run_a, run_b):
        db.run_info(run)  # names a run that is not there
    found = compare_stored(
        (run_a, db.cells(run_a, raw=True)), (run_b, db.cells(run_b, raw=True)), force
    )
    if found.refused:
        raise DlarenaError(found.refused)
    if format == Format.json:
        emit_json(encode(found))
        return
    print_table(
        f"run {run_b} against run {run_a}: throughput ratio (B/A)",
        ("cell", "ratio", "95% CI", "p", "verdict"),
        (r.texts() for r in found.rows),
    )
    geomean = found.geomean
    out.print(
        f"geometric mean of the ratios: {geomean:.3f}" if geomean else "no cell ranked in both runs"
    )


@app.command()
def spread(
    runs: Annotated[list[int], typer.Argument(help="two or more runs of the same cells")],
    force: Annotated[bool, typer.Option(help="use runs from different environments")] = False,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """How far repeated runs of the same cells land apart: per cell its throughput in each run,
    and per pair of cells of one group their throughput ratio in each run (what a choice rests
    on), each with its coefficient of variation; the median and worst over them."""
    from dlarena.measure.compare import ratio_spread, run_spread

    db = open_store(store)
    for run in runs:
        db.run_info(run)  # names a run that is not there
    measured = [db.cells(run, raw=True) for run in runs]
    cells, ratios = run_spread(measured, force), ratio_spread(measured, force)
    if format == Format.json:
        emit_json(
            {
                "runs": runs,
                "cells": [{"cell": r.key, "samples_per_s": r.values, "cv": r.cv} for r in cells],
                "ratios": [{"pair": r.key, "ratios": r.values, "cv": r.cv} for r in ratios],
                **_median_worst("", cells),
                **_median_worst("ratio_", ratios),
            }
        )
        return
    print_table(
        f"runs {', '.join(map(str, runs))}: samples/s per run",
        ("cell", "samples/s", "CV"),
        ([r.key, ", ".join(f"{v:.4g}" for v in r.values), f"{r.cv:.1%}"] for r in cells),
    )
    print_table(
        "throughput ratios within each group, per run",
        ("pair", "ratio", "CV"),
        ([r.key, ", ".join(f"{v:.3f}" for v in r.values), f"{r.cv:.1%}"] for r in ratios),
    )
    for what, rows in (("cell's throughput", cells), ("ratio", ratios)):
        found = _median_worst("", rows)
        out.print(
            f"coefficient of variation per {what}: median {found['median_cv']:.1%}, worst "
            f"{found['worst_cv']:.1%}"
            if rows
            else f"no {what} ranked in every run"
        )


def _median_worst(prefix: str, rows: list) -> dict[str, float | None]:
    cvs = [r.cv for r in rows]
    median, worst = (statistics.median(cvs), max(cvs)) if cvs else (None, None)
    return {f"{prefix}median_cv": median, f"{prefix}worst_cv": worst}
