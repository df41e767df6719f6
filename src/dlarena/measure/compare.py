"""Runs cell by cell: two runs' throughput ratio with its CI and p-value, the spread
of repeated runs, and whether the runs may be compared at all (the same software on the same
machine)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import ClassVar

from scipy import stats

from dlarena.errors import DlarenaError
from dlarena.measure.stats import Comparison, compare_cells
from dlarena.records import CellResult

# What must match for two cells' figures to be comparable; each names where it is recorded.
_CHECKED = {
    "framework version": lambda c: c.environment.framework_version,
    "device": lambda c: c.environment.setup.device if c.environment.setup else None,
    "python": lambda c: c.environment.python,
    "numpy": lambda c: c.environment.numpy,
    "CPU model": lambda c: c.environment.cpu_model,
    "CPUs allowed": lambda c: len(c.environment.affinity),
    "thread settings": lambda c: c.threading.label if c.threading else None,
}


@dataclasses.dataclass(frozen=True)
class CellComparison:
    key: str  # workload/runtime/tier/mode
    comparison: Comparison  # run B over run A


def key_of(cell: CellResult) -> tuple[str, str, str, str, str]:
    return (cell.spec_hash or cell.workload, cell.runtime, cell.tier, cell.mode, cell.label)


def environment_changes(before: CellResult, after: CellResult) -> list[str]:
    """Each checked environment field that differs between two records of a cell, both values
    named."""
    return [
        f"{name} {read(before)} vs {read(after)}"
        for name, read in _CHECKED.items()
        if read(before) != read(after)
    ]


def differences(a: Sequence[CellResult], b: Sequence[CellResult]) -> list[str]:
    """Each environment field that differs between matching cells, named with both values."""
    ours = {key_of(c)[:4]: c for c in a}
    return [
        f"{cell.label}: {change}"
        for cell in b
        if (other := ours.get(key_of(cell)[:4])) is not None
        for change in environment_changes(other, cell)
    ]


def refuse_other_environments(a: Sequence[CellResult], b: Sequence[CellResult]) -> None:
    """A user error naming what differs, if matching cells ran in different environments."""
    different = differences(a, b)
    if different:
        shown = "; ".join(different[:5]) + (
            f"; and {len(different) - 5} more" if len(different) > 5 else ""
        )
        raise DlarenaError(
            f"the runs were measured in different environments ({shown}); "
            "compare like with like, or pass --force to compare anyway"
        )


def compare_runs(
    a: Sequence[CellResult], b: Sequence[CellResult], force: bool = False
) -> tuple[list[CellComparison], float | None]:
    """Per matching ranked cell, B's throughput over A's; and their geometric mean."""
    if not force:
        refuse_other_environments(a, b)
    ours = {key_of(c)[:4]: c for c in a if c.ranked}
    rows = []
    for cell in b:
        other = ours.get(key_of(cell)[:4])
        batch = cell.batch_size
        if other is None or not cell.ranked or batch is None:
            continue
        rows.append(CellComparison(cell.label, compare_cells(cell, other)))
    ratios = [r.comparison.ratio for r in rows if r.comparison.ratio > 0]
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
    return rows, geomean


@dataclasses.dataclass(frozen=True)
class RatioRow:
    """One cell of run B over run A: the ratio, its 95% CI, p-value and verdict."""

    VERSION: ClassVar[int] = 1
    cell: str
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str

    def texts(self) -> list[str]:
        return [self.cell, f"{self.ratio:.3f}", f"{self.ci_low:.3f}-{self.ci_high:.3f}",
                f"{self.p_value:.2g}", self.verdict]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RunComparison:
    """Run B against run A, per matching ranked cell, and the ratios' geometric mean; `refused`
    says why two runs from different environments were not compared (unless forced)."""

    VERSION: ClassVar[int] = 1
    a: int
    b: int
    rows: tuple[RatioRow, ...] = ()
    geomean: float | None = None
    refused: str | None = None


def compare_stored(
    a: tuple[int, Sequence[CellResult]], b: tuple[int, Sequence[CellResult]], force: bool
) -> RunComparison:
    """`compare_runs` of two stored runs (each its id and cells), a refusal included."""
    try:
        rows, geomean = compare_runs(a[1], b[1], force)
    except DlarenaError as exc:
        return RunComparison(a[0], b[0], refused=str(exc))
    found = tuple(
        RatioRow(r.key, c.ratio, c.ci_low, c.ci_high, c.p_value, c.verdict)
        for r in rows
        for c in (r.comparison,)
    )
    return RunComparison(a[0], b[0], found, geomean)


@dataclasses.dataclass(frozen=True)
class Spread:
    key: str  # a cell (workload/runtime/tier/mode), or a pair of cells of one group
    values: tuple[float, ...]  # its figure in each run, in the runs' order
    cv: float  # their coefficient of variation (population standard deviation over mean)


def run_spread(runs: Sequence[Sequence[CellResult]], force: bool = False) -> list[Spread]:
    """How far repeated runs land apart: per cell ranked in every run, its throughput in each
    and their coefficient of variation."""
    _comparable(runs, force)
    figures: dict[tuple[str, ...], list[float]] = {}
    labels: dict[tuple[str, ...], str] = {}
    for cells in runs:
        for cell in cells:
            if cell.ranked:
                key = key_of(cell)[:4]
                figures.setdefault(key, []).append(cell.samples_per_s)
                labels[key] = cell.label
    return _spreads(figures, labels, len(runs))


def ratio_spread(runs: Sequence[Sequence[CellResult]], force: bool = False) -> list[Spread]:
    """How far repeated runs land apart on what a choice rests on: per pair of cells of one
    group (one spec and mode; every runtime and tier) ranked in every run, the first's
    throughput over the second's in each run (paired rounds where they took turns; cells
    loaded with their blocks) and their coefficient of variation."""
    _comparable(runs, force)
    figures: dict[tuple[str, ...], list[float]] = {}
    labels: dict[tuple[str, ...], str] = {}
    for cells in runs:
        groups: dict[tuple[str, str], list[CellResult]] = {}
        for cell in cells:
            if cell.ranked:
                groups.setdefault((cell.spec_hash or cell.workload, cell.mode), []).append(cell)
        for members in groups.values():
            ordered = sorted(members, key=lambda c: (c.runtime, c.tier))
            for a, b in itertools.combinations(ordered, 2):
                key = key_of(a)[:4] + key_of(b)[1:3]
                figures.setdefault(key, []).append(compare_cells(a, b).ratio)
                labels[key] = f"{a.label} / {b.runtime}/{b.tier}"
    return _spreads(figures, labels, len(runs))


def _comparable(runs: Sequence[Sequence[CellResult]], force: bool) -> None:
    if len(runs) < 2:
        raise DlarenaError("a spread needs two or more runs of the same cells; name them all")
    if not force:
        for other in runs[1:]:
            refuse_other_environments(runs[0], other)


def _spreads(
    figures: dict[tuple[str, ...], list[float]], labels: dict[tuple[str, ...], str], runs: int
) -> list[Spread]:
    return [
        Spread(labels[key], tuple(values), float(stats.variation(values)))
        for key, values in figures.items()
        if len(values) == runs
    ]
