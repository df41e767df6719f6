"""What the dashboard shows, as plain data: the pages render it and /api returns it as JSON."""

from __future__ import annotations

import dataclasses

from dlarena.measure.compare import RunComparison, compare_stored
from dlarena.report.records import HistoryPoint
from dlarena.report.rows import CellRow, cell_row
from dlarena.run_records import RunInfo
from dlarena.spec.loader import workload_label
from dlarena.store import Store


@dataclasses.dataclass(frozen=True)
class RunDetail:
    info: RunInfo
    cells: tuple[CellRow, ...]


def run_detail(db: Store, run_id: int) -> RunDetail:
    info = db.run_info(run_id)  # an unknown run raises, naming the runs there are
    return RunDetail(info, tuple(cell_row(c) for c in db.cells(run_id)))


def comparison(db: Store, a: int, b: int, force: bool) -> RunComparison:
    """Run B against run A per matching cell; `refused` says why when their environments
    differ (unless forced)."""
    db.run_info(a), db.run_info(b)  # an unknown run raises, naming the runs there are
    return compare_stored((a, db.cells(a, raw=True)), (b, db.cells(b, raw=True)), force)


def history(db: Store, framework: str) -> dict[str, list[HistoryPoint]]:
    """Per cell kind of the framework (workload and size, tier, mode, threading), every run's
    figure that passed parity, oldest first, with the environment it ran in."""
    series: dict[str, list[HistoryPoint]] = {}
    for row in db.history(framework):
        label = workload_label(row["workload"], row["spec_hash"])
        name = f"{label} {row['tier']} {row['mode']} {row['policy']}"
        series.setdefault(name, []).append(
            HistoryPoint(
                row["run_id"],
                row["id"],
                row["samples_per_s"],
                row["low"],
                row["high"],
                f"{framework} {row['framework_version']} on {row['cpu_model']}",
            )  # fmt: skip
        )
    return series
