"""The decision report as one self-contained HTML page (plotly.js inlined: it opens offline),
rendered from templates/ (Jinja2) over the report's model (content.Report).

Charts first, tables folded below them. A section whose data is missing says so and names the
command that fills it. The dashboard renders its pages with the same templates.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go
import plotly.offline
from markupsafe import Markup

from dlarena.report import content, figures, tables, training, trends
from dlarena.report.content import Report
from dlarena.report.rows import (
    MIXED_COLUMNS,
    MIXED_NOTE,
    TAX_COLUMNS,
    TAX_NOTE,
    fmt,
    markdown_cell,
)

STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
nav a{margin-right:1em}table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}tr.fail{background:#fdd}
.answer{background:#eef5ff;border:1px solid #9cc3f5;padding:1em 1.5em;border-radius:6px}
.answer h2{margin-top:0}.missing{color:#8a5a00;background:#fff6e0;padding:.5em 1em}
.warn{color:#8a3b00}details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
code{background:#f3f3f3;padding:0 3px}
"""
CELL_COLUMNS = (
    "label", "runtime", "api", "tier", "mode", "threads", "samples_per_s", "ci_95", "p50_ms",
    "p99_ms", "p50_b1_ms", "pct_peak", "peak_steady_rss_mb", "first_call_s", "warnings",
    "run_id", "cell_id",
)  # fmt: skip
LATENCY_COLUMNS = (
    "label", "runtime", "tier", "p50_ms", "p90_ms", "p99_ms", "p50_b1_ms", "p99_b1_ms",
)  # fmt: skip
FAILING_COLUMNS = ("label", "runtime", "tier", "mode", "status", "parity", "reason", "run_id")
IMPORTED_COLUMNS = ("label", "source", "runtime", "tier", "same_as_original", "max_difference")
OVERRIDE_COLUMNS = ("framework", "setting", "default", "dlarena")
OVERRIDES_NOTE = (
    "Where a framework's own default differs from the spec, its adapter sets the spec's: what a "
    "team moving a model into or out of that framework must set by hand."
)
# tables.py's tables and matrices, each (columns, rows), as the templates call them
TABLES = (
    "speed_table", "significance_table", "scenario_table", "training_table", "environment_table",
    "scaling_table", "exclusion_table", "debug_matrix", "deploy_matrix", "converge_table",
    "converge_summary", "migrate_summary", "migrate_moves",
)  # fmt: skip
SECTIONS = (
    ("answer", "The answer"),
    ("performance", "S2 performance"),
    ("evidence", "S1/S4 evidence"),
    ("fit", "S3 fit"),
    ("probes", "Probes"),
    ("cost", "Cost"),
    ("environment", "Environment"),
)


def chart(fig: go.Figure | None, name: str, when_missing: tuple[str, str]) -> str:
    """A plotly chart as a div (plotly.js comes with the page), or the missing notice."""
    if fig is None:
        return missing(*when_missing)
    fig.update_layout(template="plotly_white")
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
        config={"displaylogo": False},
    )  # fmt: skip


def columns_of(rows: Iterable[Any], columns: Sequence[str]) -> list[list[Any]]:
    """The named columns of each row (a record's fields)."""
    return [[getattr(row, c) for c in columns] for row in rows]


def figure_rows(framework: Any) -> list[list[Any]]:
    return [[f.metric, f.shown(), f.as_of, f.source] for f in framework.figures]


def warning_anchor(warning: str) -> str:
    return "evidence" if "S1 rule" in warning or "requirement" in warning else "fit"


def flip_text(card: Any) -> str:
    """Which single weight change would flip the leader, or that none would."""
    leader = card.ranking[0][0]
    flips = [
        f"{criterion} weight x{factor:g} makes {who} lead"
        for criterion, factor, who in card.sensitivity.one_at_a_time
        if who != leader
    ]
    return "; ".join(flips) or f"no single weight moved by 20% changes the leader ({leader})"


def first_shares(sensitivity: Any) -> str:
    ranked = sorted(sensitivity.p_first.items(), key=lambda t: -t[1])
    return ", ".join(f"{f} {p:.0%}" for f, p in ranked)


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dlarena.report", "templates"),
        autoescape=jinja2.select_autoescape(("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["cell"] = markdown_cell
    env.globals.update(
        chart=lambda *args: Markup(chart(*args)), figures=figures, training=training, trends=trends,
        columns_of=columns_of, figure_rows=figure_rows,
        warning_anchor=warning_anchor, flip_text=flip_text, first_shares=first_shares,
        CELL_COLUMNS=CELL_COLUMNS, LATENCY_COLUMNS=LATENCY_COLUMNS,
        FAILING_COLUMNS=FAILING_COLUMNS, IMPORTED_COLUMNS=IMPORTED_COLUMNS, SECTIONS=SECTIONS,
        OVERRIDE_COLUMNS=OVERRIDE_COLUMNS, OVERRIDES_NOTE=OVERRIDES_NOTE,
        TAX_COLUMNS=TAX_COLUMNS, MIXED_COLUMNS=MIXED_COLUMNS, MIXED_NOTE=MIXED_NOTE,
        TAX_NOTE=TAX_NOTE, SCALING_NOTE=tables.SCALING_NOTE,
        CONVERGE_NOTE=tables.CONVERGE_NOTE, COST_SAMPLES=content.COST_SAMPLES,
        COST_PRICE_PER_HOUR=content.COST_PRICE_PER_HOUR,
        **{name: getattr(tables, name) for name in TABLES},
    )  # fmt: skip
    return env


def _macro(template: str, name: str) -> Any:
    return getattr(environment().get_template(template).module, name)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], failed: Sequence[bool] = ()
) -> str:
    return str(_macro("macros.html.j2", "table")(columns, list(rows), list(failed)))


def fold(title: str, inner: str) -> str:
    return str(_macro("macros.html.j2", "fold")(title, Markup(inner)))


def missing(what: str, command: str) -> str:
    return str(_macro("macros.html.j2", "missing")(what, command))


def esc(value: Any) -> str:
    return html.escape(fmt(value))


def page(title: str, body: str, plotly_tag: str | None = None) -> str:
    """A whole page; plotly.js inlined unless a tag loading it is given."""
    return environment().get_template("page.html.j2").render(
        title=title, style=Markup(STYLE), body=Markup(body),
        script=Markup(plotly_tag) if plotly_tag else None,
        plotly_js=Markup(plotly.offline.get_plotlyjs()) if not plotly_tag else None,
    )  # fmt: skip


def section(name: str, report: Report) -> str:
    """One of the report's sections (sections.html.j2): answer, performance, evidence, fit,
    probes, cost, environment; `body` is them all under the title and navigation."""
    return str(_macro("sections.html.j2", name)(report))


def write_html(path: Path, report: Report) -> None:
    path.write_text(page("dlarena report", section("body", report)), encoding="utf-8")
