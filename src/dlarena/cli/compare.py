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
    from dlarena.measure.compare import compare_runs

    db = open_store(store)
    for run in (run_a, run_b):
        db.run_info(run)  # names a run that is not there
    rows, geomean = compare_runs(db.cells(run_a, raw=True), db.cells(run_b, raw=True), force)
    if format == Format.json:
        emit_json(
            {
                "run_a": run_a,
                "run_b": run_b,
                "geometric_mean": geomean,
                "cells": [
                    {
                        "cell": r.key,
                        "ratio": r.comparison.ratio,
                        "ci": [r.comparison.ci_low, r.comparison.ci_high],
                        "p_value": r.comparison.p_value,
                        "verdict": r.comparison.verdict,
                    }
                    for r in rows
                ],
            }
        )
        return
    print_table(
        f"run {run_b} against run {run_a}: throughput ratio (B/A)",
        ("cell", "ratio", "95% CI", "p", "verdict"),
        (
            [
                r.key,
                f"{r.comparison.ratio:.3f}",
                f"{r.comparison.ci_low:.3f}-{r.comparison.ci_high:.3f}",
                f"{r.comparison.p_value:.2g}",
                r.comparison.verdict,
            ]
            for r in rows
        ),
    )
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
    """How far repeated runs of the same cells land apart: per cell its throughput in each run
    and their coefficient of variation; the median and worst over the cells."""
    from dlarena.measure.compare import run_spread

    db = open_store(store)
    for run in runs:
        db.run_info(run)  # names a run that is not there
    rows = run_spread([db.cells(run) for run in runs], force)
    cvs = [r.cv for r in rows]
    median, worst = (statistics.median(cvs), max(cvs)) if cvs else (None, None)
    if format == Format.json:
        cells = [{"cell": r.key, "samples_per_s": r.samples_per_s, "cv": r.cv} for r in rows]
        emit_json({"runs": runs, "cells": cells, "median_cv": median, "worst_cv": worst})
        return
    print_table(
        f"runs {', '.join(map(str, runs))}: samples/s per run",
        ("cell", "samples/s", "CV"),
        ([r.key, ", ".join(f"{v:.4g}" for v in r.samples_per_s), f"{r.cv:.1%}"] for r in rows),
    )
    out.print(
        f"coefficient of variation per cell: median {median:.1%}, worst {worst:.1%}"
        if median is not None and worst is not None
        else "no cell ranked in every run"
    )
