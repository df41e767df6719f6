"""What the dashboard shows, as plain data: the pages render it and /api returns it as JSON."""

from __future__ import annotations

from typing import Any

from dlarena.measure.compare import RunComparison, compare_stored
from dlarena.report.rows import cell_row
from dlarena.spec.loader import workload_label
from dlarena.store import Store


def run_detail(db: Store, run_id: int) -> dict[str, Any]:
    info = db.run_info(run_id)  # an unknown run raises, naming the runs there are
    return {"run": info, "cells": [cell_row(c).as_dict() for c in db.cells(run_id)]}


def comparison(db: Store, a: int, b: int, force: bool) -> RunComparison:
    """Run B against run A per matching cell; `refused` says why when their environments
    differ (unless forced)."""
    db.run_info(a), db.run_info(b)  # an unknown run raises, naming the runs there are
    return compare_stored((a, db.cells(a, raw=True)), (b, db.cells(b, raw=True)), force)


def history(db: Store, framework: str) -> dict[str, list[dict[str, Any]]]:
    """Per cell kind of the framework (workload and size, tier, mode, threading), every run's
    figure that passed parity, oldest first, with the environment it ran in."""
    series: dict[str, list[dict[str, Any]]] = {}
    for row in db.history(framework):
        label = workload_label(row["workload"], row["spec_hash"])
        name = f"{label} {row['tier']} {row['mode']} {row['policy']}"
        series.setdefault(name, []).append(
            {
                "run_id": row["run_id"],
                "cell_id": row["id"],
                "samples_per_s": row["samples_per_s"],
                "low": row["low"],
                "high": row["high"],
                "environment": f"{framework} {row['framework_version']} on {row['cpu_model']}",
            }
        )
    return series
