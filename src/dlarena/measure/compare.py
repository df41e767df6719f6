"""Runs cell by cell: two runs' throughput ratio with its CI and p-value, the spread
of repeated runs, and whether the runs may be compared at all (the same software on the same
machine)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

from scipy import stats

from dlarena.errors import DlarenaError
from dlarena.frameworks import RUNTIMES
from dlarena.measure.stats import Comparison, compare_cells
from dlarena.records import CellResult
from dlarena.spec.model import precision_of

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


@dataclasses.dataclass(frozen=True)
class PairRatio:
    """One cell's throughput over its partner's in the same run: the ratio (3 digits), its 95%
    CI as text, p-value and verdict."""

    ratio: float
    ci_95: str
    p_value: float
    verdict: str


def _ratio_row(a: CellResult, b: CellResult) -> PairRatio:
    """A's throughput over B's with its interval, p-value and verdict (their blocks loaded)."""
    found = compare_cells(a, b)
    ci_95 = f"{found.ci_low:.2f}-{found.ci_high:.2f}"
    return PairRatio(round(found.ratio, 3), ci_95, found.p_value, found.verdict)


class _Row:
    """A row record whose JSON form is its fields by name, in order."""

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class TaxRow(_Row):
    """An API variant cell (jax-raw, ...) against the same cell written with its framework's
    layer library in the same run: raw_over_library above 1, the library costs speed."""

    workload: str
    tier: str
    mode: str
    raw: str  # "jax-raw (jax.numpy)"
    library: str  # "jax (flax.linen)"
    raw_over_library: float
    ci_95: str
    p_value: float
    verdict: str


@dataclasses.dataclass(frozen=True)
class MixedRow(_Row):
    """A mixed-precision cell against the same model's float32 cell (same runtime, tier and
    mode): speedup above 1, mixed precision is faster; each cell's worst parity share."""

    workload: str
    runtime: str
    tier: str
    mode: str
    precision: str
    api: str | None
    speedup: float
    ci_95: str
    p_value: float
    verdict: str
    parity_fp32: float
    parity_mixed: float


def _measured(cell: CellResult) -> bool:
    return bool(cell.batch_size and cell.blocks)  # blocks: Store.cells(run, raw=True)


CellKey = tuple[str | None, str, str, str]  # spec hash, runtime, tier, mode


def _pairs(
    cells: Sequence[CellResult], partner_of: Callable[[CellResult], CellKey | None]
) -> Iterator[tuple[CellResult, CellResult, PairRatio]]:
    """Each ranked cell with the ranked cell `partner_of` names, both measured, and the first's
    throughput over the partner's."""
    ranked = {(c.spec_hash, c.runtime, c.tier, c.mode): c for c in cells if c.ranked}
    for cell in ranked.values():
        wanted = partner_of(cell)
        partner = ranked.get(wanted) if wanted is not None else None
        if partner is not None and _measured(cell) and _measured(partner):
            yield cell, partner, _ratio_row(cell, partner)


def _library_of(cell: CellResult) -> CellKey | None:
    """An API variant cell's (jax-raw, ...) same cell written with the layer library."""
    parent = RUNTIMES[cell.runtime].variant_of if cell.runtime in RUNTIMES else None
    return (cell.spec_hash, parent, cell.tier, cell.mode) if parent else None


def api_tax(cells: Sequence[CellResult]) -> list[TaxRow]:
    """For each API variant cell (jax-raw, ...), its throughput over the same cell written with
    the framework's layer library in the same run: above 1, the library costs speed."""
    return [
        TaxRow(
            raw.workload,
            raw.tier,
            raw.mode,
            f"{raw.runtime} ({raw.api})",
            f"{library.runtime} ({library.api})",
            found.ratio,
            found.ci_95,
            found.p_value,
            found.verdict,
        )  # fmt: skip
        for raw, library, found in _pairs(cells, _library_of)
    ]


def worst_share(cell: CellResult) -> float:
    """The cell's largest parity difference as a share of its tolerance."""
    return max((c.max_rel / c.tolerance for c in cell.parity if c.tolerance), default=0.0)


def _precision(cell: CellResult) -> tuple[str, str | None]:
    """The cell's compute precision and its spec's content hash in float32."""
    return precision_of(cell.spec) if cell.spec else ("fp32", cell.spec_hash)


def _float32_of(cell: CellResult) -> CellKey | None:
    """A mixed-precision cell's same model in float32 (same runtime, tier and mode)."""
    precision, float32 = _precision(cell)
    return (float32, cell.runtime, cell.tier, cell.mode) if precision != "fp32" else None


def mixed_speedup(cells: Sequence[CellResult]) -> list[MixedRow]:
    """For each mixed-precision cell (bf16, fp16), its throughput over the same model's float32
    cell in the same runtime, tier and mode, with each one's worst parity share: above 1, mixed
    precision is faster."""
    return [
        MixedRow(
            full.workload,
            mixed.runtime,
            mixed.tier,
            mixed.mode,
            _precision(mixed)[0],
            mixed.api,
            found.ratio,
            found.ci_95,
            found.p_value,
            found.verdict,
            round(worst_share(full), 4),
            round(worst_share(mixed), 4),
        )  # fmt: skip
        for mixed, full, found in _pairs(cells, _float32_of)
    ]
