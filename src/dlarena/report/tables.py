"""The report's tables and probe matrices, each (columns, rows) from the report model
(content.Report): the HTML page, the Markdown, the dashboard and the CLI render them alike."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dlarena.converge.records import ConvergeRecord
from dlarena.decide.profile import CRITERIA
from dlarena.migrate.records import ScanRecord
from dlarena.probes.records import DebugRecord, DeployRecord
from dlarena.report.rows import fmt
from dlarena.scale.records import ScaleRecord

if TYPE_CHECKING:
    from dlarena.decide.scorecard import Scorecard
    from dlarena.evidence import Evidence
    from dlarena.report.content import Report

Table = tuple[tuple[str, ...], list[list[Any]]]


def speed_table(card: Scorecard) -> Table:
    weights = dict(card.profile.weights)
    columns = ("framework", *(f"{c} (w {weights[c]:g})" for c in CRITERIA), "Speed Score")
    rows = [
        [f, *(card.criteria[f][c].short() for c in CRITERIA), f"{s:.2f}"] for f, s in card.ranking
    ]
    return columns, rows


def significance_table(report: Report) -> Table:
    columns = ("group", "fastest", "next", "ratio", "95% CI", "p", "verdict")
    rows = [
        [s.group, s.leader, s.next, f"{s.ratio:.3f}", f"{s.ci_low:.3f}-{s.ci_high:.3f}",
         f"{s.p_value:.2g}", s.verdict]
        for s in report.significance
    ]  # fmt: skip
    return columns, rows


def scenario_table(report: Report) -> Table:
    columns = ("scenario", "upfront", "compute/yr", "labor/yr", "3-year total", "published",
               "check")  # fmt: skip
    rows = [
        [c.scenario.name, f"{c.scenario.upfront:,.0f}", f"{c.scenario.annual_compute:,.0f}",
         f"{c.scenario.annual_labor:,.0f}", f"{c.total:,.0f}",
         "-" if c.scenario.published_total is None else f"{c.scenario.published_total:,.0f}",
         "follows" if c.follows else c.note]
        for c in report.scenarios
    ]  # fmt: skip
    return columns, rows


def training_table(report: Report) -> Table:
    columns = ("workload", "framework", "tier", "samples/s", "hours", "cost (USD)", "run")
    rows = [
        [t.workload, t.cost.framework, t.cost.tier, f"{t.cost.samples_per_s or 0:,.0f}",
         f"{t.cost.hours or 0:,.1f}", f"{t.cost.cost or 0:,.2f}", t.cost.run_id]
        for t in report.training
    ]  # fmt: skip
    return columns, rows


def environment_table(report: Report) -> Table:
    columns = ("run", "started", "status", "CPU", "cores", "threads", "python", "versions",
               "dlarena", "cells counted")  # fmt: skip
    rows = [
        [e.run_id, e.started, e.status, e.cpu, e.cpus, ", ".join(e.threads), e.python,
         ", ".join(f"{k} {v}" for k, v in e.versions.items()), e.git_sha, e.cells]
        for e in report.environments
    ]  # fmt: skip
    return columns, rows


def scaling_table(records: Sequence[ScaleRecord]) -> Table:
    """`dlarena scale` rows: per framework, workload and worker count."""
    columns = ("framework", "mechanism", "workload", "workers", "samples/s", "steps/s",
               "efficiency", "of ceiling", "replicas")  # fmt: skip
    rows = [
        [r.framework, r.mechanism, r.workload, str(r.workers), f"{r.samples_per_s:,.0f}",
         f"{r.steps_per_s:,.1f}", f"{r.efficiency:.2f}", f"{r.of_ceiling:.2f}", r.replicas]
        for r in records
    ]  # fmt: skip
    return columns, rows


def converge_table(records: Sequence[ConvergeRecord]) -> Table:
    """`dlarena converge` records: per task, framework, tier and seed."""
    columns = ("task", "runtime", "tier", "seed", "target", "status", "steps to target",
               "s to target", "final accuracy", "ms/step", "first step s", "envelope")  # fmt: skip
    rows = [
        [r.task, r.framework, r.tier, str(r.seed), f"{r.target:.0%}", r.status,
         fmt(r.steps_to_target), fmt(r.seconds_to_target), fmt(r.final_accuracy),
         fmt(None if r.step_s is None else 1000 * r.step_s),
         fmt(r.first_step_s) if r.status != "failed" else (r.reason or "")[:80],
         r.envelope.text() if r.envelope else "-"]
        for r in sorted(records, key=lambda r: (r.task, r.framework, r.tier, r.seed))
    ]  # fmt: skip
    return columns, rows


def converge_summary(records: Sequence[ConvergeRecord]) -> Table:
    """Per task, framework and tier over its seeds: how many reached the target, the median
    and range of the seconds and steps to it (over the seeds that reached it), and whether its
    final accuracy differs from the other frameworks' (converge/seeds.py)."""
    from dlarena.converge.seeds import final_differences

    cells: dict[tuple[str, str, str], list[ConvergeRecord]] = {}
    for r in records:
        cells.setdefault((r.task, r.framework, r.tier), []).append(r)
    differences = final_differences(records)
    columns = ("task", "runtime", "tier", "reached", "s to target (median, range)",
               "steps to target (median, range)", "final accuracy (median)",
               "final accuracy vs the other frameworks")  # fmt: skip
    rows = []
    for (task, runtime, tier), mine in sorted(cells.items()):
        hit = [r for r in mine if r.status == "reached"]
        finals = [r.final_accuracy for r in mine if r.final_accuracy is not None]
        rows.append(
            [task, runtime, tier, f"{len(hit)} of {len(mine)} seeds",
             _spread([r.seconds_to_target for r in hit]),
             _spread([r.steps_to_target for r in hit]),
             fmt(statistics.median(finals)) if finals else "-",
             differences.get((task, runtime, tier), "-")]
        )  # fmt: skip
    return columns, rows


def _spread(found: Sequence[float | None]) -> str:
    values = [v for v in found if v is not None]
    if not values:
        return "-"
    middle = fmt(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({fmt(min(values))}-{fmt(max(values))})"


CONVERGE_NOTE = (
    "Every framework and tier trains the same spec from the same initial weights through the "
    "same order of batches of a real dataset; s to target: the training steps' own seconds "
    "until the first held-out evaluation at or above the target (the first step's compilation "
    "included); ms/step: the median step after the first. Envelope: over the first steps, each "
    "training loss and each held-out loss stays within the parity gate's float32 loss bound, "
    "once per step taken, of the float64 run through the same steps (batch norm's running "
    "statistics kept as the spec says); its worst share of that bound."
)


SCALING_NOTE = (
    "efficiency: samples/s over N x one worker's; of ceiling: over N independent processes "
    "training alone on the same CPUs (what the machine allows without communication)"
)


def probe_matrix(
    records: Sequence[DebugRecord] | Sequence[DeployRecord], rows_by: tuple[str, str], by: str
) -> tuple[tuple[str, ...], list[list[Any]]]:
    """Rows by two record fields, a column per value of a third (`by`); each cell (its text,
    the record's id: None for a record not stored yet)."""
    key = operator.attrgetter(*rows_by, by)
    columns = tuple(dict.fromkeys(getattr(r, by) for r in records))
    found = {key(r): r for r in records}
    rows = []
    for first, second in dict.fromkeys(key(r)[:2] for r in records):
        cells = (found.get((first, second, c)) for c in columns)
        rows.append([f"{first} {second}", *((r.cell(), r.id) if r else ("-", None) for r in cells)])
    return (f"{rows_by[0]} / {rows_by[1]}", *columns), rows


def debug_matrix(records: Sequence[DebugRecord]) -> tuple[tuple[str, ...], list[list[Any]]]:
    """Rows framework/tier, columns the probes."""
    return probe_matrix(records, ("framework", "tier"), "probe")


def deploy_matrix(records: Sequence[DeployRecord]) -> tuple[tuple[str, ...], list[list[Any]]]:
    """Rows framework/export path, columns the workloads."""
    return probe_matrix(records, ("framework", "path"), "workload")


def exclusion_table(evidence: Evidence, card: Scorecard) -> Table:
    columns = ("framework", "health 0-10", "adoption 0-10", "excluded by", "risk", "risk signals")
    rows = []
    for name, fw in evidence.frameworks.items():
        a = fw.assessment
        excluded = [f"{r.name}: {r.detail}" for r in a.exclusions if r.verdict == "excluded"]
        risks = [f"{s.name}: {s.detail}" for s in a.risk_signals]
        adoption = card.criteria[name]["adoption"].value
        why, signals = "; ".join(excluded) or "-", "; ".join(risks) or "-"
        rows.append([name, a.health, adoption, why, a.risk_level, signals])
    return columns, rows


MIGRATE_CATEGORIES = ("model", "training", "data", "distributed", "export", "custom", "utility")


def migrate_summary(record: ScanRecord) -> Table:
    """A stored `dlarena migrate scan`: per framework, files, models, call sites per category."""
    columns = ("framework", "files", "models", *MIGRATE_CATEGORIES)
    rows = [[fw, *(str(row[k]) for k in columns[1:])] for fw, row in record.frameworks.items()]
    return columns, rows


def migrate_moves(record: ScanRecord) -> Table:
    """Its APIs to rewrite first on the way to `to`, and their equivalents there."""
    columns = ("api", "calls", "moves", f"in {record.to}")
    return columns, [[r.api, str(r.calls), r.moves, r.in_target] for r in record.api_moves]
