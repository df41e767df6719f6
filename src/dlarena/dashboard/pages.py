"""The dashboard's HTML pages, built from the report's pieces; plotly.js is served by the
dashboard itself (/static/plotly.js), so every page works offline."""

from __future__ import annotations

import html
import time
from typing import Any

from dlarena.frameworks import FRAMEWORKS
from dlarena.report import figures
from dlarena.report.content import Report
from dlarena.report.html import chart, esc, fold, missing, page, section, table

PLOTLY_TAG = "<script src='/static/plotly.js'></script>"


def frame(title: str, body: str) -> str:
    links = [("/", "Runs"), ("/report", "Decision report"), ("/evidence", "Evidence")]
    links += [(f"/history/{f}", f"{f} history") for f in FRAMEWORKS]
    links.append(("/openapi.json", "API"))
    nav = "".join(f"<a href='{href}'>{html.escape(text)}</a>" for href, text in links)
    return page(f"dlarena: {title}", f"<nav id='site'>{nav}</nav><hr>{body}", PLOTLY_TAG)


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


RUNS_PER_PAGE = 50


def runs_page(runs: list[dict[str, Any]], answer: str, page: int = 1, total: int = 0) -> str:
    """One page of runs (RUNS_PER_PAGE, newest first), `total` runs in the store."""
    if not runs:
        if page > 1:
            return frame("runs", f"<h1>Runs</h1><p>No page {page}: <a href='/'>newest runs</a></p>")
        body = missing("The store has no run yet", "dlarena bench (or make run)")
        return frame("runs", f"<h1>Runs</h1>{body}")
    rows = "".join(
        f"<tr><td><a href='/runs/{r['id']}'>run {r['id']}</a></td><td>{_when(r['started_at'])}"
        f"</td><td>{esc(r['status'])}</td><td>{r['cells']}</td><td>{esc(r['git_sha'])}</td></tr>"
        for r in runs
    )
    options = "".join(f"<option value='{r['id']}'>run {r['id']}</option>" for r in runs)
    second = runs[1]["id"] if len(runs) > 1 else runs[0]["id"]
    picker = (
        "<form id='compare' action='/compare' method='get'><h2>Compare two runs</h2>"
        f"A <select name='a' id='run-a'>{options}</select> "
        f"B <select name='b' id='run-b'>{options}</select> "
        "<button type='submit'>compare</button></form>"
        f"<script>document.getElementById('run-a').value='{second}';</script>"
    )
    return frame(
        "runs",
        f"<h1>Runs</h1><p class='answer' id='answer'>Answer now: <b>{esc(answer)}</b> "
        "(<a href='/report'>why</a>)</p><table id='runs'><thead><tr><th>run</th><th>started</th>"
        f"<th>status</th><th>cells</th><th>dlarena</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{_pager(page, total)}{picker}",
    )


def _pager(page: int, total: int) -> str:
    last = max(1, -(-total // RUNS_PER_PAGE))
    if last == 1:
        return ""
    newer = f"<a href='/?page={page - 1}'>newer</a> " if page > 1 else ""
    older = f" <a href='/?page={page + 1}'>older</a>" if page < last else ""
    return f"<p id='pages'>{newer}page {page} of {last} ({total} runs){older}</p>"


def run_page(detail: dict[str, Any], report: Report) -> str:
    info = detail["run"]
    head = (
        f"<h1>Run {info['id']}</h1><p>Started {_when(info['started_at'])}, finished "
        f"{_when(info['finished_at'])}; status {esc(info['status'])}; {len(detail['cells'])} "
        f"cells; dlarena {esc(info['git_sha'])}.</p>"
    )
    return frame(f"run {info['id']}", head + section("performance", report))


def compare_page(result: dict[str, Any]) -> str:
    a, b = result["a"], result["b"]
    head = f"<h1>Run {b} against run {a}</h1>"
    if result["refused"]:
        forced = f"/compare?a={a}&b={b}&force=1"
        body = (
            f"<p class='missing' id='refused'>{html.escape(result['refused'])}</p>"
            f"<p><a href='{forced}'>Compare anyway</a></p>"
        )
        return frame("compare", head + body)
    if not result["rows"]:
        return frame("compare", head + "<p>The two runs share no cell that passed parity.</p>")
    geomean = result["geomean"]
    rows = [
        [r["cell"], f"{r['ratio']:.3f}", f"{r['ci_low']:.3f}-{r['ci_high']:.3f}",
         f"{r['p_value']:.2g}", r["verdict"]]
        for r in result["rows"]
    ]  # fmt: skip
    summary = f"<p>Geometric mean of the ratios: <b>{geomean:.3f}</b>.</p>" if geomean else ""
    return frame(
        "compare",
        head + summary + chart(figures.ratios(result["rows"]), "ratios", ("", ""))
        + table(("cell", "B / A", "95% CI", "p", "verdict"), rows),
    )  # fmt: skip


def history_page(framework: str, series: dict[str, list[dict[str, Any]]]) -> str:
    figure = chart(
        figures.history(series),
        "history",
        (f"No {framework} cell has passed parity yet", f"dlarena bench --runtime {framework}"),
    )
    tables = "".join(
        fold(
            name,
            table(
                ("run", "samples/s", "95% CI", "environment"),
                (
                    [
                        p["run_id"],
                        p["samples_per_s"],
                        f"{p['low']:.4g}-{p['high']:.4g}",
                        p["environment"],
                    ]
                    for p in points
                ),
            ),
        )  # fmt: skip
        for name, points in series.items()
    )
    return frame(f"{framework} history", f"<h1>{esc(framework)} across runs</h1>{figure}{tables}")


def evidence_page(report: Report) -> str:
    return frame("evidence", section("evidence", report))


def report_page(report: Report) -> str:
    return frame("decision report", section("body", report))


def not_found_page(detail: str) -> str:
    return frame(
        "not found",
        f"<h1>Not found</h1><p id='not-found'>{html.escape(detail)}</p>"
        "<p><a href='/'>Back to the runs</a></p>",
    )
