"""Cells set against a partner in the same run: each API variant (jax-raw, ...) against its
framework's layer library, each mixed-precision cell against its float32 one; the ratio with its
CI, p-value and verdict, as the report's and `bench`'s rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

from dlarena.frameworks import RUNTIMES
from dlarena.measure.stats import compare_cells
from dlarena.records import CellResult
from dlarena.spec.model import precision_of


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
