"""The decision report as one self-contained HTML page (plotly.js inlined: it opens offline).

Charts first, tables folded below them. A section whose data is missing says so and names the
command that fills it. The dashboard renders its pages with the same pieces.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.offline

from dlarena.report import figures
from dlarena.report.content import (
    COST_PRICE_PER_HOUR,
    COST_SAMPLES,
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
from dlarena.report.rows import TAX_COLUMNS, TAX_NOTE, fmt

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
SECTIONS = (
    ("answer", "The answer"),
    ("performance", "S2 performance"),
    ("evidence", "S1/S4 evidence"),
    ("fit", "S3 fit"),
    ("probes", "Probes"),
    ("cost", "Cost"),
    ("environment", "Environment"),
)


def esc(value: Any) -> str:
    return html.escape(fmt(value))


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], failed: Sequence[bool] = ()
) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    marks = list(failed)
    body = "".join(
        "<tr{}>{}</tr>".format(
            " class='fail'" if i < len(marks) and marks[i] else "",
            "".join(f"<td>{esc(v)}</td>" for v in row),
        )
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fold(title: str, inner: str) -> str:
    return f"<details><summary>{html.escape(title)}</summary>{inner}</details>"


def missing(what: str, command: str) -> str:
    return f"<p class='missing'>{html.escape(what)}: run <code>{html.escape(command)}</code>.</p>"


def chart(fig: go.Figure | None, name: str, when_missing: tuple[str, str]) -> str:
    if fig is None:
        return missing(*when_missing)
    fig.update_layout(template="plotly_white")
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{name}",
        config={"displaylogo": False},
    )


def page(title: str, body: str, plotly_tag: str | None = None) -> str:
    """A whole page; plotly.js inlined unless a tag loading it is given."""
    script = plotly_tag or f"<script>{plotly.offline.get_plotlyjs()}</script>"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{script}</head>"
        f"<body>{body}</body></html>"
    )


def answer_section(report: Report) -> str:
    a = report.advice
    if a.recommendation is None:
        head = "<h2>No framework meets the profile's requirements</h2>"
    else:
        head = (
            f"<h2 id='recommendation'>Use {esc(a.recommendation)}</h2>"
            f"<p>Runner-up <b>{esc(a.runner_up)}</b>; confidence <b>{a.confidence:.0%}</b> (the "
            f"share of random re-weightings and re-draws of the measured figures within their "
            f"intervals in which it stays first); profile <b>{esc(report.profile.name)}</b>; "
            f"measured figures: {esc(report.selection.source)}.</p>"
            f"<p id='flip'>What would change it: {esc(a.flip)}.</p>"
        )
    reasons = "".join(
        f"<li>{html.escape(r.text)} <a href='#{r.anchor}'>evidence</a></li>" for r in report.reasons
    )
    warnings = "".join(
        f"<li class='warn'>{html.escape(w)} <a href='#{_warning_anchor(w)}'>evidence</a></li>"
        for w in a.warnings
    )
    none_measured = (
        ""
        if report.rows
        else missing("Nothing measured passed parity yet, so performance is the published rating",
                     "dlarena bench")
    )  # fmt: skip
    return (
        f"<section id='answer' class='answer'>{head}{none_measured}"
        f"<h3>Why</h3><ul>{reasons or '<li>no reason stands out: a close call</li>'}</ul>"
        f"<h3>Warnings</h3><ul>{warnings or '<li>none</li>'}</ul></section>"
    )


def _warning_anchor(warning: str) -> str:
    return "evidence" if "S1 rule" in warning or "requirement" in warning else "fit"


def performance_section(report: Report) -> str:
    rows = list(report.rows)
    bench = ("No cell passed parity yet", "dlarena bench")
    parts = [
        "<h2 id='performance'>S2 performance</h2>",
        f"<p>Figures that count: {esc(report.selection.source)}. Error bars: 95% confidence "
        "intervals over every block of every worker process.</p>",
        chart(figures.throughput(rows), "throughput", bench),
        _significance(report),
        _stability(rows),
        "<h3>Latency</h3>",
        chart(
            figures.latency(report.cells),
            "latency",
            ("No inference cell measured latency", "dlarena bench --mode infer"),
        ),
        _latency_table(rows),
        "<h3>Time to first result</h3>",
        chart(figures.phases(rows), "phases", bench),
        "<h3>Memory</h3>",
        chart(figures.memory(rows), "memory", bench),
        "<h3>Share of the machine's peak</h3>",
        chart(figures.peak_share(rows), "peak", ("No cell has a FLOP count", "dlarena bench")),
        "<h3>Parity</h3>",
        chart(figures.parity_heatmap(rows + list(report.failing)), "parity", bench),
        fold(f"All {len(rows)} cells that count", _cells_table(rows)),
    ]
    if report.failing:
        parts.append(fold(f"{len(report.failing)} cells that did not pass", _failing(report)))
    if report.tax:
        parts.append(fold("API level: raw ops vs layer library", f"<p>{TAX_NOTE}</p>" + table(
            TAX_COLUMNS, ([r[c] for c in TAX_COLUMNS] for r in report.tax))))  # fmt: skip
    return f"<section>{''.join(parts)}</section>"


def _significance(report: Report) -> str:
    if not report.significance:
        return missing(
            "No group has two frameworks with stored blocks to test",
            "dlarena bench (the default profile keeps every block)",
        )
    return "<h3>Is the leader really faster?</h3>" + table(*significance_table(report))


def _stability(rows: list[dict[str, Any]]) -> str:
    warned = [r for r in rows if r["warning_details"]]
    if not warned:
        return "<p>No stability warning on any figure that counts.</p>"
    items = "".join(
        f"<li>{esc(r['label'])} {esc(r['runtime'])} {r['tier']} {r['mode']}: "
        f"{html.escape('; '.join(r['warning_details']))}</li>"
        for r in warned
    )
    return f"<h3>Stability warnings</h3><ul class='warn'>{items}</ul>"


def _latency_table(rows: list[dict[str, Any]]) -> str:
    kept = [r for r in rows if r["p50_ms"] is not None]
    if not kept:
        return ""
    columns = ("label", "runtime", "tier", "p50_ms", "p90_ms", "p99_ms", "p50_b1_ms", "p99_b1_ms")
    return fold("Latency percentiles", table(columns, ([r[c] for c in columns] for r in kept)))


def _cells_table(rows: list[dict[str, Any]]) -> str:
    return table(CELL_COLUMNS, ([r[c] for c in CELL_COLUMNS] for r in rows))


def _failing(report: Report) -> str:
    columns = ("label", "runtime", "tier", "mode", "status", "parity", "reason", "run_id")
    return table(
        columns, ([r[c] for c in columns] for r in report.failing), [True] * len(report.failing)
    )


def evidence_section(report: Report) -> str:
    ev = report.evidence
    summary = table(*exclusion_table(ev, report.card))
    figures_html = "".join(
        fold(
            f"{name}: every figure with its source and date",
            table(
                ("metric", "value", "as of", "source"),
                ([f.metric, f.shown(), f.as_of, f.source] for f in fw.figures),
            ),
        )
        for name, fw in ev.frameworks.items()
    )
    errors = "".join(f"<li class='warn'>{html.escape(e)}</li>" for e in ev.errors)
    return (
        f"<section><h2 id='evidence'>S1/S4 evidence</h2><p>Evaluated {ev.today.isoformat()}; "
        "the snapshot's figures plus any collected with <code>dlarena scan --online</code>.</p>"
        f"{summary}{figures_html}{f'<ul>{errors}</ul>' if errors else ''}</section>"
    )


def fit_section(report: Report) -> str:
    card, advice = report.card, report.advice
    if advice.trail:
        path = "".join(
            f"<li>{html.escape(leaf.text)} <b>{html.escape(leaf.answer)}</b>: "
            f"{html.escape(leaf.because)}</li>"
            for leaf in advice.trail
        )
        tree = f"<h3>Decision tree path</h3><ol>{path}</ol>"
    else:
        tree = missing(
            "No decision-tree answers in this profile",
            "dlarena advise --interactive (or give a profile file with answers)",
        )
    scores = table(*speed_table(card))
    return (
        f"<section><h2 id='fit'>S3 fit</h2>{tree}<h3>Weights and Speed Score</h3>{scores}"
        f"<h3>Sensitivity</h3>{_sensitivity(report)}</section>"
    )


def _sensitivity(report: Report) -> str:
    sens, leader = report.card.sensitivity, report.card.ranking[0][0]
    flips = [
        f"{criterion} weight x{factor:g} makes {who} lead"
        for criterion, factor, who in sens.one_at_a_time
        if who != leader
    ]
    shares = ", ".join(f"{f} {p:.0%}" for f, p in sorted(sens.p_first.items(), key=lambda t: -t[1]))
    flip_text = (
        "; ".join(flips)
        if flips
        else f"no single weight moved by 20% changes the leader ({leader})"
    )
    close = " <b>A close call.</b>" if sens.close_call else ""
    return (
        f"<p>Which weight change would flip the answer: {html.escape(flip_text)}.</p>"
        f"<p>First place under random weights: {html.escape(shares)}.{close}</p>"
    )


def probes_section(report: Report) -> str:
    debug, deploy = report.evidence.probes, report.evidence.deploys
    parts = ["<section><h2 id='probes'>Probes</h2><h3>Deployment</h3>"]
    if deploy:
        parts.append(
            "<p>Every way a model leaves each framework, run and checked against the framework's "
            "own output; feeds the maturity criterion (basis 'observed').</p>"
            + _matrix("deploy-matrix", *deploy_matrix(deploy))
        )
    else:
        parts.append(missing("No deployment probe has run", "dlarena probe deploy"))
    parts.append("<h3>Debuggability</h3>")
    if debug:
        parts.append(
            "<p>Each mistake made on purpose in every framework and tier (shape mismatch, dtype "
            "mix, a NaN in the forward pass, the NaN under the framework's NaN-checking mode); "
            "feeds the learning criterion (basis 'observed').</p>"
            + _matrix("debug-matrix", *debug_matrix(debug))
        )
    else:
        parts.append(missing("No debuggability probe has run", "dlarena probe debug"))
    parts.append("<h3>Scale-out</h3>")
    parts.append(
        chart(
            figures.scaling(report.evidence.scaling),
            "scaling",
            ("No scaling run yet", "dlarena scale"),
        )
    )
    if report.evidence.scaling:
        parts.append(table(*scaling_table(report.evidence.scaling)) + f"<p>{SCALING_NOTE}</p>")
    records = (*deploy, *debug)
    if records:
        details = "".join(
            f"<li id='probe-{r['id']}'>{esc(r['framework'])} {esc(r.get('path') or r['probe'])} "
            f"{esc(r.get('workload') or r['tier'])}: {esc(r['status'])}; {html.escape(_said(r))}"
            "</li>"
            for r in records
        )
        parts.append(fold("Every probe record", f"<ul>{details}</ul>"))
    return "".join(parts) + "</section>"


def _matrix(name: str, columns: tuple[str, ...], rows: list[list[Any]]) -> str:
    """A probe matrix: each cell's text links to its record below."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{esc(row[0])}</td>"
        + "".join(
            f"<td><a href='#probe-{ident}'>{esc(text)}</a></td>" if ident else "<td>-</td>"
            for text, ident in row[1:]
        )
        + "</tr>"
        for row in rows
    )
    return f"<table id='{name}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _said(record: dict[str, Any]) -> str:
    keys = ("message", "error", "deprecated", "result", "reason")
    return str(next((record[k] for k in keys if record.get(k)), ""))


def cost_section(report: Report) -> str:
    scenarios = table(*scenario_table(report))
    if report.training:
        training = table(*training_table(report))
        training = (
            f"<p>Training {COST_SAMPLES:,.0f} samples at ${COST_PRICE_PER_HOUR:g} per "
            "machine-hour, from each framework's fastest measured tier (<code>dlarena cost</code> "
            f"takes your own figures).</p>{training}"
        )
    else:
        training = missing("No training cell measured", "dlarena bench --mode train")
    return (
        "<section><h2 id='cost'>Cost</h2><h3>Three-year scenarios (the comparison's, "
        f"recomputed)</h3>{scenarios}<h3>Training cost from measured throughput</h3>{training}"
        "</section>"
    )


def environment_section(report: Report) -> str:
    if not report.environments:
        return "<section><h2 id='environment'>Environment</h2>" + missing(
            "No run measured yet", "dlarena bench"
        ) + "</section>"  # fmt: skip
    machine = report.selection.machine_text()
    left = report.selection.elsewhere
    note = f" {left} cells from other machines are left out." if left else ""
    return (
        f"<section><h2 id='environment'>Environment</h2><p>Machine: {esc(machine)}.{note}</p>"
        f"{table(*environment_table(report))}</section>"
    )


def report_body(report: Report) -> str:
    nav = "".join(f"<a href='#{anchor}'>{title}</a>" for anchor, title in SECTIONS)
    return (
        f"<h1>dlarena: which framework to use</h1><p>Generated {report.generated} from "
        f"{esc(report.store)}.</p><nav>{nav}</nav>{answer_section(report)}"
        f"{performance_section(report)}{evidence_section(report)}{fit_section(report)}"
        f"{probes_section(report)}{cost_section(report)}{environment_section(report)}"
    )


def write_html(path: Path, report: Report) -> None:
    path.write_text(page("dlarena report", report_body(report)), encoding="utf-8")
