"""The dashboard's HTML pages, rendered from templates/ (Jinja2) with the report's own templates
and sections; plotly.js is served by the dashboard itself (/static/plotly.js), so every page
works offline."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from dlarena.dashboard.data import RunDetail
from dlarena.frameworks import FRAMEWORKS
from dlarena.measure.compare import RatioRow, RunComparison
from dlarena.report import html
from dlarena.report.content import Report
from dlarena.report.records import HistoryPoint
from dlarena.run_records import RunInfo

PLOTLY_TAG = "<script src='/static/plotly.js'></script>"
RUNS_PER_PAGE = 50


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


def _ratio_rows(rows: Sequence[RatioRow]) -> list[list[str]]:
    return [r.texts() for r in rows]


def _history_rows(points: list[HistoryPoint]) -> list[list[Any]]:
    return [[p.run_id, p.samples_per_s, f"{p.low:.4g}-{p.high:.4g}", p.environment] for p in points]


@functools.cache
def _environment() -> jinja2.Environment:
    """The report's environment, with the dashboard's templates in front of its own."""
    report = html.environment()
    loader = jinja2.ChoiceLoader(
        [
            jinja2.PackageLoader("dlarena.dashboard", "templates"),
            jinja2.PackageLoader("dlarena.report", "templates"),
        ]
    )
    env = report.overlay(loader=loader)
    links = [("/", "Runs"), ("/report", "Decision report"), ("/evidence", "Evidence")]
    links += [(f"/history/{f}", f"{f} history") for f in FRAMEWORKS]
    links.append(("/openapi.json", "API"))
    env.globals = {
        **report.globals, "links": links, "when": _when, "ratio_rows": _ratio_rows,
        "history_rows": _history_rows, "style": Markup(html.STYLE), "script": Markup(PLOTLY_TAG),
    }  # fmt: skip
    return env


def _render(template: str, title: str, **context: Any) -> str:
    return _environment().get_template(template).render(title=f"dlarena: {title}", **context)


def runs_page(runs: list[RunInfo], answer: str, page: int = 1, total: int = 0) -> str:
    """One page of runs (RUNS_PER_PAGE, newest first), `total` runs in the store."""
    second = runs[1].id if len(runs) > 1 else runs[0].id if runs else None
    last = max(1, -(-total // RUNS_PER_PAGE))
    return _render(
        "runs.html.j2", "runs", runs=runs, answer=answer, page=page, total=total, last=last,
        second=second,
    )  # fmt: skip


def run_page(detail: RunDetail, report: Report) -> str:
    info = detail.info
    return _render(
        "run.html.j2", f"run {info.id}", info=info, cells=len(detail.cells), report=report
    )


def compare_page(result: RunComparison) -> str:
    return _render("compare.html.j2", "compare", compared=result)


def history_page(framework: str, series: dict[str, list[HistoryPoint]]) -> str:
    return _render("history.html.j2", f"{framework} history", framework=framework, series=series)


def evidence_page(report: Report) -> str:
    return _render("section.html.j2", "evidence", name="evidence", report=report)


def report_page(report: Report) -> str:
    return _render("section.html.j2", "decision report", name="body", report=report)


def not_found_page(detail: str) -> str:
    return _render("not_found.html.j2", "not found", detail=detail)
