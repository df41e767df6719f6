"""compare: two runs, cell by cell, with significance."""

from __future__ import annotations

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
    """Per cell: throughput of run B over run A, its 95% CI, a Mann-Whitney p-value and the
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
