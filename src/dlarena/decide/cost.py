"""Three-year cost of ownership (S4): the comparison's scenarios as a calculator, and measured
throughput turned into compute hours and cost per framework."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from dlarena.frameworks import FRAMEWORKS
from dlarena.records import CellResult
from dlarena.spec.loader import size_of

# Tolerance for a published total rounded to $0.01M.
ROUNDING_USD = 5_000


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    upfront: float
    annual_compute: float
    annual_labor: float
    published_total: float | None = None  # what the comparison prints for 3 years

    def total(self, years: int = 3) -> float:
        return self.upfront + years * (self.annual_compute + self.annual_labor)


# The comparison's table "Cost Structure (Typical ML Project)", 5 ML engineers [seed, 2026-03-06]
PUBLISHED = (
    Scenario("self-hosted PyTorch", 50_000, 120_000, 750_000, 2_660_000),
    Scenario("cloud PyTorch (AWS EC2)", 10_000, 180_000, 700_000, 2_650_000),
    Scenario("managed ML (SageMaker)", 5_000, 360_000, 600_000, 2_690_000),
)


@dataclasses.dataclass(frozen=True)
class ScenarioCheck:
    """A scenario's total recomputed over `years` beside the published one, and whether the
    published one follows from its inputs (`note` says how far off it is where it does not)."""

    scenario: Scenario
    years: int
    total: float
    follows: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self.scenario),
            "years": self.years,
            "total": self.total,
            "follows": self.follows,
            "note": self.note,
        }


@dataclasses.dataclass(frozen=True)
class TrainingCost:
    """Hours and cost to train a workload from one framework's best measured cell (only the
    framework where none was measured)."""

    framework: str
    measured: bool
    tier: str | None = None
    cell_id: int | None = None
    run_id: int | None = None
    samples_per_s: float | None = None
    hours: float | None = None
    cost: float | None = None

    def as_dict(self) -> dict[str, Any]:
        if not self.measured:
            return {"framework": self.framework, "measured": False}
        return dataclasses.asdict(self)


def check(scenario: Scenario, years: int = 3) -> ScenarioCheck:
    """The recomputed total beside the published one, and whether the published one follows."""
    total = scenario.total(years)
    published = scenario.published_total
    follows, note = True, ""
    if published is not None and abs(total - published) > ROUNDING_USD:
        follows = False
        note = (
            f"the published total ${published:,.0f} does not follow from its inputs: "
            f"{scenario.upfront:,.0f} + {years} x ({scenario.annual_compute:,.0f} + "
            f"{scenario.annual_labor:,.0f}) = ${total:,.0f} (off by ${total - published:,.0f})"
        )
    return ScenarioCheck(scenario, years, total, follows, note)


def training_cost(
    cells: Sequence[CellResult],
    samples: float,
    price_per_hour: float,
    workload: str,
    tiers: tuple[str, ...],
    size: str = "small",
) -> list[TrainingCost]:
    """Hours and cost to train on `samples` samples, from each framework's best measured cell
    of the workload (a built-in at `size`, or a spec file of that name)."""
    rows = []
    for framework in FRAMEWORKS:
        mine = [
            c
            for c in cells
            if c.ranked
            and c.runtime == framework
            and c.mode == "train"
            and c.workload == workload
            and size_of(c.spec_hash) in (size, None)
            and c.tier in tiers
        ]
        if not mine:
            rows.append(TrainingCost(framework, measured=False))
            continue
        best = max(mine, key=lambda c: c.samples_per_s)
        hours = samples / best.samples_per_s / 3600
        rows.append(
            TrainingCost(
                framework, True, best.tier, best.id, best.run_id, best.samples_per_s, hours,
                hours * price_per_hour,
            )
        )  # fmt: skip
    return rows
