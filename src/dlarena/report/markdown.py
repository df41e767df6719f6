"""The decision report as Markdown, for a pull request or a wiki: the same sections as the HTML
page, tables where the page has charts."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dlarena.report.content import (
    SCALING_NOTE,
    Report,
    debug_matrix,
    deploy_matrix,
    environment_table,
    exclusion_table,
    scaling_table,
    scenario_table,
    significance_table,
    speed_table,
    training_table,
)
from dlarena.report.rows import fmt

# the report's section anchors as Markdown renderers slug the headings below
HEADINGS = {"performance": "s2-performance", "evidence": "s1s4-evidence", "fit": "s3-fit"}


def cell(value: Any) -> str:
    """A Markdown table cell: no raw HTML from a workload name, no stray column break."""
    return html.escape(fmt(value), quote=False).replace("|", "\\|").replace("\n", " ")


def md_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def _answer(report: Report) -> list[str]:
    a = report.advice
    head = (
        f"**Use {a.recommendation}.** Runner-up {a.runner_up}, confidence {a.confidence:.0%}; "
        f"profile '{report.profile.name}'; measured: {report.selection.source}. "
        f"What would change it: {a.flip}."
        if a.recommendation
        else "**No framework meets the profile's requirements.**"
    )
    lines = ["## The answer", "", head, "", "Why:", ""]
    lines += [f"- {cell(r.text)} ([evidence](#{r.anchor}))" for r in report.reasons] or [
        "- a close call"
    ]
    lines += ["", "Warnings:", ""] + ([f"- {cell(w)}" for w in a.warnings] or ["- none"])
    return lines


def _performance(report: Report) -> list[str]:
    lines = ["", "## S2 performance", "", f"Figures that count: {report.selection.source}.", ""]
    if not report.rows:
        lines.append("No cell passed parity yet: run `dlarena bench`.")
    else:
        columns = ("label", "runtime", "tier", "mode", "threads", "samples_per_s", "ci_95",
                   "p50_ms", "p99_ms", "pct_peak", "parity", "warnings", "run_id")  # fmt: skip
        lines += md_table(columns, ([r[c] for c in columns] for r in report.rows))
    if report.significance:
        lines += ["", "Is the leader really faster?", ""]
        lines += md_table(*significance_table(report))
    if report.failing:
        lines += ["", "Cells that did not pass:", ""]
        lines += [
            f"- {cell(r['label'])}/{r['runtime']}/{r['tier']}/{r['mode']}: {cell(r['reason'])}"
            for r in report.failing
        ]
    return lines


def _evidence(report: Report) -> list[str]:
    lines = ["", "## S1/S4 evidence", "", f"Evaluated {report.evidence.today.isoformat()}.", ""]
    return lines + md_table(*exclusion_table(report.evidence, report.card))


def _fit(report: Report) -> list[str]:
    card = report.card
    lines = ["", "## S3 fit", ""]
    lines += [f"- {leaf.text} **{leaf.answer}**: {leaf.because}" for leaf in report.advice.trail]
    if not report.advice.trail:
        lines.append("No decision-tree answers: run `dlarena advise --interactive`.")
    lines.append("")
    return lines + md_table(*speed_table(card))


def _probes(report: Report) -> list[str]:
    lines = ["", "## Probes", ""]
    for title, records, matrix, command in (
        ("Deployment", report.evidence.deploys, deploy_matrix, "dlarena probe deploy"),
        ("Debuggability", report.evidence.probes, debug_matrix, "dlarena probe debug"),
    ):
        lines += [f"{title}:", ""]
        if not records:
            lines += [f"Not probed yet: run `{command}`.", ""]
            continue
        columns, rows = matrix(records)
        lines += md_table(columns, ([row[0], *(text for text, _ in row[1:])] for row in rows))
        lines.append("")
    lines += ["Scale-out:", ""]
    if not report.evidence.scaling:
        return [*lines, "Not measured yet: run `dlarena scale`.", ""]
    return [*lines, *md_table(*scaling_table(report.evidence.scaling)), "", SCALING_NOTE, ""]


def _cost(report: Report) -> list[str]:
    lines = ["", "## Cost", ""]
    lines += md_table(*scenario_table(report))
    if report.training:
        lines += ["", "Training 1e9 samples at $1 per machine-hour:", ""]
        lines += md_table(*training_table(report))
    return lines


def _environment(report: Report) -> list[str]:
    lines = ["", "## Environment", "", f"Machine: {report.selection.machine_text() or '-'}.", ""]
    return lines + md_table(*environment_table(report))


def write_markdown(path: Path, report: Report) -> None:
    lines = ["# dlarena: which framework to use", "", f"Generated {report.generated}.", ""]
    for part in (_answer, _performance, _evidence, _fit, _probes, _cost, _environment):
        lines += part(report)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
