"""The five 0-10 criteria per framework, each with the inputs it was computed from."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from dlarena.decide.profile import CRITERIA, Profile
from dlarena.decide.target import Ratio, target_ratios
from dlarena.evidence import PAPER_SHARES, Evidence
from dlarena.evidence.snapshot import Figure
from dlarena.frameworks import FRAMEWORKS
from dlarena.measure.stats import compare_cells
from dlarena.probes.deploy import PATHS, WAYS_OUT, way_out
from dlarena.probes.records import DebugRecord, DeployRecord
from dlarena.records import CellResult
from dlarena.spec.loader import size_of, workload_label


@dataclasses.dataclass(frozen=True)
class Criterion:
    name: str
    value: float
    basis: str  # measured | computed | observed (by probes) | published | none
    inputs: tuple[str, ...]  # human-readable lines, each naming its source
    # the standard deviation of log(value) the measurements leave (performance: from the ratios'
    # intervals); 0 where the value is not measured
    log_sd: float = 0.0

    def short(self) -> str:
        """The value and its basis letter, as tables show it: '9.3 m'."""
        return f"{self.value:.1f} {self.basis[0]}"


def _cite(figure: Figure) -> str:
    return f"[{figure.source}, {figure.as_of}]"


def published(evidence: Evidence, framework: str, name: str, why: str = "") -> Criterion:
    figure = evidence.frameworks[framework].newest(f"criterion_{name}")
    if figure is None:
        return Criterion(
            name,
            0.0,
            "none",
            (f"no rating: add criterion_{name} for {framework} to evidence/snapshot.json",),
        )
    return Criterion(
        name,
        float(figure.value),
        "published",
        (f"the comparison's own rating {_cite(figure)}{why}",),
    )


def published_criteria(evidence: Evidence) -> dict[str, dict[str, Criterion]]:
    """The comparison's own ratings for all five criteria (reproduces its Speed Scores)."""
    return {fw: {c: published(evidence, fw, c) for c in CRITERIA} for fw in FRAMEWORKS}


def ecosystem(evidence: Evidence, framework: str) -> Criterion:
    assessment = evidence.frameworks[framework].assessment
    if assessment.health is None:
        return published(evidence, framework, "ecosystem", "; no health signals")
    lines = tuple(
        f"{signal} = {value:,.1f} {_cite(fig)}" for signal, value, fig in assessment.health_inputs
    )
    return Criterion(
        "ecosystem", assessment.health, "computed", ("criticality-style health score of:", *lines)
    )


def adoption(evidence: Evidence, framework: str) -> Criterion:
    """Research use: mean paper share s mapped as 10 ln(1 + 100 s) / ln(101)."""
    shares = [f for m in PAPER_SHARES if (f := evidence.frameworks[framework].newest(m))]
    if not shares:
        return published(evidence, framework, "adoption", "; no paper shares")
    mean = sum(f.value for f in shares) / len(shares)
    value = 10 * math.log1p(100 * mean) / math.log(101)
    lines = tuple(
        f"{f.metric.removeprefix('paper_share_')}: {f.shown()} {_cite(f)}" for f in shares
    )
    return Criterion(
        "adoption",
        round(value, 2),
        "computed",
        (f"mean paper share {mean:.1%}, log-scaled to 0-10:", *lines),
    )


def performance_ratios(cells: Sequence[CellResult], profile: Profile) -> dict[str, list[Ratio]]:
    """Per framework, for each comparable group: throughput relative to the best framework and
    the verdict of that difference. A framework whose blocks do not differ significantly from
    the best's (the ratio's bootstrap CI, over paired rounds where they took turns) counts as
    1.0: it is not slower."""
    groups: dict[tuple[str, str, str], dict[str, CellResult]] = {}
    for cell in cells:
        if (
            cell.ranked
            and cell.runtime in FRAMEWORKS
            and cell.tier in profile.tiers
            and (not profile.workloads or cell.workload in profile.workloads)
            and size_of(cell.spec_hash) != "tiny"  # test-sized: seconds of work, not a workload
        ):
            # one spec (a size of a built-in is another spec), mode and tier
            key = (cell.spec_hash or cell.workload, cell.mode, cell.tier)
            groups.setdefault(key, {})[cell.runtime] = cell
    ratios: dict[str, list[Ratio]] = {}
    for (_, mode, tier), by_framework in groups.items():
        best = max(by_framework.values(), key=lambda c: c.samples_per_s)
        group = f"{workload_label(best.workload, best.spec_hash)}/{mode}/{tier}"
        for framework, cell in by_framework.items():
            ratios.setdefault(framework, []).append((group, *_against(cell, best)))
    return ratios


def _against(cell: CellResult, best: CellResult) -> tuple[float, str, float]:
    """(ratio counted, how it reads, the sd of its log): throughput over the best's, 1.0 where
    not significant; the sd from the ratio's 95% interval (paired rounds where they took
    turns)."""
    if cell is best:
        return 1.0, "the best", 0.0
    ratio = cell.samples_per_s / best.samples_per_s
    if not (cell.batch_size and best.batch_size and len(cell.blocks) > 1 < len(best.blocks)):
        return ratio, f"{ratio:.2f} of the best (no blocks stored: significance unknown)", 0.0
    comparison = compare_cells(cell, best)
    shown = f"{comparison.ratio:.2f} of the best"
    basis = ", paired" if comparison.paired else ""
    interval = f"CI {comparison.ci_low:.2f}-{comparison.ci_high:.2f}{basis}"
    bounded = 0 < comparison.ci_low <= comparison.ci_high < math.inf
    log_sd = math.log(comparison.ci_high / comparison.ci_low) / 3.92 if bounded else 0.0
    if comparison.verdict == "no significant difference":
        return 1.0, f"{shown}: no significant difference ({interval}), counted 1", log_sd
    return comparison.ratio, f"{shown} ({interval}, p {comparison.p_value:.2g})", log_sd


def performance(
    evidence: Evidence, framework: str, ratios: dict[str, list[Ratio]], source: str
) -> Criterion:
    """10 x the geometric mean of throughput relative to the best, over cells that passed parity,
    and of time to target where `dlarena converge` measured it (decide/target.py); a difference
    that is not significant counts as none."""
    mine = ratios.get(framework)
    if not mine:
        return published(
            evidence, framework, "performance", "; nothing measured here yet (run 'dlarena bench')"
        )
    geomean = math.exp(sum(math.log(r) for _, r, _, _ in mine) / len(mine))
    lines = tuple(f"{group}: {reading}" for group, _, reading, _ in mine)
    log_sd = math.sqrt(sum(sd**2 for *_, sd in mine)) / len(mine)  # of the geometric mean
    what = "throughput"
    if any("/time to " in group for group, *_ in mine):
        what = "throughput and of seconds to a held-out target (dlarena converge)"
    return Criterion(
        "performance",
        round(10 * geomean, 2),
        "measured",
        (f"geometric mean of {what} relative to the best, {source}:", *lines),
        log_sd,
    )


def debuggability(records: Sequence[DebugRecord]) -> float:
    """0-10 from the debuggability probes: the mean of each mistake's and tier's points
    (DebugRecord.points: caught, named, pointed at)."""
    return sum(r.points() for r in records) / len(records)


def observed(
    rated: Criterion, probed: float | None, what: str, tally: str, command: str
) -> Criterion:
    """The comparison's rating averaged with what the probes observed (when they ran), both
    shown with their difference."""
    if probed is None or rated.basis == "none":
        note = f"; {what} not probed yet (run '{command}')"
        return dataclasses.replace(rated, inputs=(rated.inputs[0] + note,))
    return Criterion(
        rated.name,
        round((rated.value + probed) / 2, 2),
        "observed",
        (
            f"mean of {what} observed by probes, {probed:.1f}/10 ({tally}), and "
            f"{rated.inputs[0]}, {rated.value:.1f}/10 (probes {probed - rated.value:+.1f} "
            "against the rating)",
        ),
    )


def learning(evidence: Evidence, framework: str) -> Criterion:
    """How a framework tells a user their mistake is a measurable part of learning it."""
    mine = [r for r in evidence.probes if r.framework == framework]
    caught = sum(r.caught for r in mine)
    return observed(
        published(evidence, framework, "learning"),
        debuggability(mine) if mine else None,
        "debuggability",
        f"{caught} of {len(mine)} mistakes caught",
        "dlarena probe debug",
    )


DEPLOY_POINTS = {"works": 1.0, "deprecated": 0.5, "fails": 0.0}


def way_shares(records: Sequence[DeployRecord]) -> dict[str, float | None]:
    """Per way out (portable ONNX, serving, devices): the share of the workloads that the
    framework's best path there carries to an artifact computing what the framework does (a
    deprecated path counts half); 0 where the framework has no path, None where every path was
    skipped for want of its exporter (unknown, not absent)."""
    offered = PATHS[records[0].framework] if records else ()
    shares: dict[str, float | None] = {}
    for way in WAYS_OUT:
        paths = [p for p in offered if way_out(p) == way]
        points = [
            [DEPLOY_POINTS[r.status] for r in records if r.path == p and r.status in DEPLOY_POINTS]
            for p in paths
        ]
        tried = [sum(pts) / len(pts) for pts in points if pts]
        shares[way] = max(tried) if tried else (None if paths else 0.0)
    return shares


def deployability(records: Sequence[DeployRecord]) -> float | None:
    """0-10: the mean of the ways out that are known (`way_shares`), so breadth counts."""
    known = [v for v in way_shares(records).values() if v is not None]
    return 10 * sum(known) / len(known) if records and known else None


def maturity(evidence: Evidence, framework: str) -> Criterion:
    """The ways a model leaves the framework and still computes the same thing."""
    mine = [r for r in evidence.deploys if r.framework == framework]
    counts = {s: sum(r.status == s for r in mine) for s in DEPLOY_POINTS}
    ways = ", ".join(
        f"{way} {'unknown' if share is None else f'{share:.2f}'}"
        for way, share in way_shares(mine).items()
    )
    tally = ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; best path per way out: {ways}"
    return observed(
        published(evidence, framework, "maturity"),
        deployability(mine),
        "deployability",
        tally,
        "dlarena probe deploy",
    )


def criteria(
    evidence: Evidence, cells: Sequence[CellResult], source: str, profile: Profile
) -> dict[str, dict[str, Criterion]]:
    ratios = performance_ratios(cells, profile)
    for framework, more in target_ratios(evidence.convergence, profile).items():
        ratios.setdefault(framework, []).extend(more)
    return {
        fw: {
            "ecosystem": ecosystem(evidence, fw),
            "maturity": maturity(evidence, fw),
            "adoption": adoption(evidence, fw),
            "learning": learning(evidence, fw),
            "performance": performance(evidence, fw, ratios, source),
        }
        for fw in FRAMEWORKS
    }
