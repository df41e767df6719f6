"""A self-contained HTML report (plotly inlined) and a Markdown summary of one run."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlarena.report.decision import DECISION_COLUMNS
from dlarena.report.rows import SUMMARY_COLUMNS, TAX_COLUMNS, TAX_NOTE, fmt

COLUMNS = (*SUMMARY_COLUMNS, "ci_low_ms", "ci_high_ms", "build_s", "framework_version")


def throughput_figure(rows: list[dict[str, Any]]) -> go.Figure:
    """Training samples/s and inference samples/s per runtime, one bar group per tier."""
    workloads = sorted({r["workload"] for r in rows})
    modes = ("train", "infer")
    fig = make_subplots(
        rows=len(modes),
        cols=len(workloads),
        shared_yaxes=False,
        subplot_titles=[f"{w} - {m} (samples/s)" for m in modes for w in workloads],
    )
    for row_index, mode in enumerate(modes, start=1):
        for col_index, workload in enumerate(workloads, start=1):
            for tier, color in (("eager", "#4c78a8"), ("compiled", "#f58518")):
                ranked = [
                    r
                    for r in rows
                    if r["ranked"]
                    and r["mode"] == mode
                    and r["workload"] == workload
                    and r["tier"] == tier
                ]
                fig.add_trace(
                    go.Bar(
                        name=tier,
                        x=[r["runtime"] for r in ranked],
                        y=[r["samples_per_s"] for r in ranked],
                        marker_color=color,
                        showlegend=row_index == col_index == 1,
                        legendgroup=tier,
                    ),
                    row=row_index,
                    col=col_index,
                )
    fig.update_layout(barmode="group", height=700, title="Throughput of cells that passed parity")
    return fig


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> str:
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr class='{}'>{}</tr>".format(
            "fail" if r.get("status", "ok") != "ok" or r.get("parity") == "FAIL" else "",
            "".join(f"<td>{html.escape(fmt(r[c]))}</td>" for c in columns),
        )
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md(value: Any) -> str:
    """A Markdown table cell: no raw HTML from a workload name, no stray column break."""
    return html.escape(fmt(value)).replace("|", "\\|").replace("\n", " ")


def _markdown_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_md(r[c]) for c in columns) + " |" for r in rows]


def _failures(rows: list[dict[str, Any]]) -> str:
    items = [
        f"<li>{html.escape(r['workload'])}/{html.escape(r['runtime'])}/{r['tier']}/"
        f"{r['mode']}: {html.escape(str(r['reason']))}</li>"
        for r in rows
        if r["status"] != "ok"
    ]
    return f"<h2>Failed cells</h2><ul>{''.join(items)}</ul>" if items else ""


def _tax_html(tax: list[dict[str, Any]]) -> str:
    if not tax:
        return ""
    return (
        f"<h2>API level: raw ops vs layer library</h2><p>{TAX_NOTE}</p>{_table(tax, TAX_COLUMNS)}"
    )


def write_html(
    path: Path,
    run: dict[str, Any],
    rows: list[dict[str, Any]],
    decision: list[dict[str, Any]],
    tax: list[dict[str, Any]],
) -> None:
    chart = throughput_figure(rows).to_html(include_plotlyjs=True, full_html=False)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
    path.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>dlarena run {run["id"]}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}tr.fail{{background:#fdd}}</style>
</head><body>
<h1>dlarena run {run["id"]}</h1>
<p>Started {started}; status {html.escape(run["status"])}; dlarena git sha
{html.escape(str(run["git_sha"]))}; threads {run["config"]["protocol"]["threads"]}.
Cells that failed parity or did not finish are never ranked.</p>
{chart}
<h2>All cells</h2>
{_table(rows)}
{_failures(rows)}
{_tax_html(tax)}
<h2>Speed Score (equal weights)</h2>
<p>Criteria: m = measured in this run, c = computed from dated evidence, p = the comparison's own
rating (Jan 2024). <code>dlarena score</code>, <code>dlarena scan</code> and
<code>dlarena advise</code> show every input with its source.</p>
{_table(decision, DECISION_COLUMNS)}
</body></html>
""")


def write_markdown(
    path: Path,
    run: dict[str, Any],
    rows: list[dict[str, Any]],
    decision: list[dict[str, Any]],
    tax: list[dict[str, Any]],
) -> None:
    lines = [
        f"# dlarena run {run['id']}",
        "",
        f"Status {run['status']}; dlarena git sha {run['git_sha']}; "
        f"threads {run['config']['protocol']['threads']}.",
        "",
        *_markdown_table(rows, COLUMNS),
    ]
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["", "## Failed cells", ""]
        lines += [
            f"- {_md(r['workload'])}/{r['runtime']}/{r['tier']}/{r['mode']}: {_md(r['reason'])}"
            for r in failed
        ]
    if tax:
        lines += ["", "## API level: raw ops vs layer library", "", TAX_NOTE, ""]
        lines += _markdown_table(tax, TAX_COLUMNS)
    lines += [
        "",
        "## Speed Score (equal weights)",
        "",
        *_markdown_table(decision, DECISION_COLUMNS),
    ]
    path.write_text("\n".join(lines) + "\n")
