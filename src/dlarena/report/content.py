"""Everything a report says, gathered once: the answer and its reasons, the figures that count,
the evidence, the fit, the cost and the environments. The HTML report, the Markdown summary and
the dashboard render this one record."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from dlarena.decide.advisor import Advice, advise
from dlarena.decide.cost import PUBLISHED, ScenarioCheck, check, training_cost
from dlarena.decide.profile import CRITERIA, Profile
from dlarena.decide.scorecard import Scorecard, scorecard
from dlarena.evidence import Evidence, gather
from dlarena.frameworks import overrides
from dlarena.frameworks.descriptor import OverrideRow
from dlarena.measure.pairs import MixedRow, TaxRow, api_tax, mixed_speedup
from dlarena.measure.stats import compare_cells
from dlarena.records import CellResult
from dlarena.report.records import Difference, ImportedRow, RunEnvironment, TrainingRow
from dlarena.report.rows import ReportRow, fmt, report_row, threads_of
from dlarena.spec.loader import workload_label
from dlarena.store.selection import Selection, current

# What a training-cost row assumes; `dlarena cost` takes any other figures.
COST_SAMPLES = 1e9
COST_PRICE_PER_HOUR = 1.0


@dataclasses.dataclass(frozen=True)
class Reason:
    text: str
    anchor: str  # the report section holding its evidence


@dataclasses.dataclass(frozen=True)
class Report:
    generated: str
    store: str
    profile: Profile
    selection: Selection
    card: Scorecard
    advice: Advice
    evidence: Evidence
    reasons: tuple[Reason, ...]
    rows: tuple[ReportRow, ...]  # the figures that count, one row per cell
    failing: tuple[ReportRow, ...]  # the newest cells of their kind that did not pass
    significance: tuple[Difference, ...]  # the leader against the next, per group
    tax: tuple[TaxRow, ...]
    mixed: tuple[MixedRow, ...]  # mixed precision against float32
    scenarios: tuple[ScenarioCheck, ...]
    training: tuple[TrainingRow, ...]  # per trained workload and framework
    environments: tuple[RunEnvironment, ...]  # per run
    imported: tuple[ImportedRow, ...] = ()  # per imported model and runtime, inference
    # per framework, each default of its own that differs from the spec, and what dlarena sets
    overrides: tuple[OverrideRow, ...] = ()

    @property
    def cells(self) -> tuple[CellResult, ...]:
        return self.selection.cells

    @property
    def answer_line(self) -> str:
        """The answer in one line: what `make run` prints."""
        a = self.advice
        if a.recommendation is None:
            return "no framework meets the profile's requirements; see the warnings"
        basis = self.selection.source
        return (
            f"{a.recommendation} (runner-up {a.runner_up}, confidence {a.confidence:.0%}; "
            f"profile '{self.profile.name}', measured: {basis})"
        )


def build_report(store: Any, profile: Profile, run: int | None = None) -> Report:
    selection = current(store, run)
    evidence = gather(store)
    card = scorecard(evidence, selection, profile)
    advice = advise(evidence, card)
    rows = tuple(_row(c) for c in selection.cells)
    return Report(
        generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        store=str(store.path),
        profile=profile,
        selection=selection,
        card=card,
        advice=advice,
        evidence=evidence,
        reasons=tuple(reasons(card, advice)),
        rows=rows,
        failing=tuple(_row(c) for c in selection.failing),
        significance=tuple(leading_differences(selection.cells)),
        tax=tuple(api_tax(selection.cells)),
        mixed=tuple(mixed_speedup(selection.cells)),
        scenarios=tuple(check(s) for s in PUBLISHED),
        training=tuple(_training(selection.cells, profile)),
        environments=tuple(environments(store, selection)),
        imported=tuple(imported_models(selection.cells + selection.failing)),
        overrides=tuple(overrides()),
    )


def _row(cell: CellResult) -> ReportRow:
    return report_row(cell, workload_label(cell.workload, cell.spec_hash))


def imported_models(cells: tuple[CellResult, ...]) -> list[ImportedRow]:
    """Per imported model (its file and sha256) and runtime: whether its inference logits were
    those of ONNX Runtime running the original file, and the largest difference."""
    rows = []
    for cell in cells:
        source = json.loads(cell.spec or "{}").get("source")
        if source is None or cell.mode != "infer":
            continue
        found = {c.check: c for c in cell.parity}.get("original")
        same = ("yes" if found.passed else "no") if found else "not checked (no original file)"
        rows.append(
            ImportedRow(
                workload_label(cell.workload, cell.spec_hash),
                f"{source['file']} (sha256 {source['sha256'][:12]})",
                cell.runtime, cell.tier, same, found.max_abs if found else None,
            )
        )  # fmt: skip
    return sorted(rows, key=lambda r: (r.label, r.runtime, r.tier))


def reasons(card: Scorecard, advice: Advice, count: int = 3) -> list[Reason]:
    """What weighs most for the recommendation: the tree's answers that voted for it, then the
    criteria where it leads the runner-up by the most weighted points."""
    best, other = advice.recommendation, advice.runner_up
    if best is None:
        return []
    found = [
        Reason(f"you answered '{leaf.answer}' to \"{leaf.text}\": {leaf.because}", "fit")
        for leaf in advice.trail
        if dict(leaf.votes).get(best, 0) > 0
    ]
    weights = dict(card.profile.weights)
    total = sum(weights.values()) or 1.0
    leads = []
    for criterion in CRITERIA:
        mine = card.criteria[best][criterion]
        theirs = card.criteria[other][criterion] if other else None
        lead = mine.value - (theirs.value if theirs else 0.0)
        leads.append((weights[criterion] / total * lead, criterion, mine, theirs))
    for weighted, criterion, mine, theirs in sorted(leads, key=lambda t: -t[0]):
        if weighted <= 0:
            break
        against = f" against {other}'s {theirs.value:.1f}" if theirs else ""
        found.append(
            Reason(
                f"{criterion} {mine.value:.1f}/10{against} ({mine.basis}; weight "
                f"{weights[criterion]:g}): {mine.inputs[0].rstrip(':') if mine.inputs else ''}",
                "performance" if criterion == "performance" else "evidence",
            )
        )
    return found[:count]


def leading_differences(cells: tuple[CellResult, ...]) -> list[Difference]:
    """Per (workload, mode, tier): the fastest framework against the next, with the ratio's CI
    and p-value (paired where they took turns); 'no significant difference' where that is the
    finding."""
    groups: dict[tuple, list[CellResult]] = {}
    for cell in cells:
        if cell.ranked and cell.batch_size and len(cell.blocks) > 1:
            groups.setdefault((cell.spec_hash, cell.mode, cell.tier), []).append(cell)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        first, second = sorted(members, key=lambda c: -c.samples_per_s)[:2]
        comparison = compare_cells(first, second)
        group = f"{workload_label(first.workload, first.spec_hash)}/{first.mode}/{first.tier}"
        out.append(
            Difference(
                group, first.runtime, second.runtime, comparison.ratio, comparison.ci_low,
                comparison.ci_high, comparison.p_value, comparison.verdict,
            )
        )  # fmt: skip
    return out


def _training(cells: tuple[CellResult, ...], profile: Profile) -> list[TrainingRow]:
    trained = {(c.workload, c.spec_hash) for c in cells if c.mode == "train"}
    rows = []
    for workload, spec_hash in sorted(trained, key=lambda t: (t[0], t[1] or "")):
        mine = tuple(c for c in cells if c.spec_hash == spec_hash)
        for row in training_cost(
            mine, COST_SAMPLES, COST_PRICE_PER_HOUR, workload, ("eager", "compiled")
        ):
            if row.measured:
                rows.append(TrainingRow(workload_label(workload, spec_hash), row))
    return rows


def environments(store: Any, selection: Selection) -> list[RunEnvironment]:
    """Per run whose figures count: when, the machine, threads, and each runtime's version."""
    out = []
    for run_id in selection.runs or ((selection.pinned,) if selection.pinned else ()):
        info = store.run_info(run_id)
        mine = [c for c in selection.cells if c.run_id == run_id] or list(selection.failing)
        first = mine[0].environment if mine else None
        out.append(
            RunEnvironment(
                run_id,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(info.started_at)),
                info.status,
                first.cpu_model if first else None,
                first.cpu_count if first else None,
                sorted({fmt(threads_of(c)) for c in mine}),
                first.python if first else None,
                {c.runtime: c.environment.framework_version for c in mine},
                info.git_sha,
                sum(c.run_id == run_id for c in selection.cells),
            )
        )
    return out
