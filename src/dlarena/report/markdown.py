"""The decision report as Markdown, for a pull request or a wiki: the same report model and
sections as the HTML page (templates/report.md.j2), tables where the page has charts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlarena.report.content import Report
from dlarena.report.html import environment

PERFORMANCE_COLUMNS = (
    "label", "runtime", "tier", "mode", "threads", "samples_per_s", "ci_95", "p50_ms", "p99_ms",
    "pct_peak", "parity", "warnings", "run_id",
)  # fmt: skip


def matrix_text(rows: list[Sequence[Any]]) -> list[list[Any]]:
    """A probe matrix's rows without the links the page has: each cell's text."""
    return [[row[0], *(text for text, _ in row[1:])] for row in rows]


def write_markdown(path: Path, report: Report) -> None:
    template = environment().get_template("report.md.j2")
    text = template.render(
        report=report, PERFORMANCE_COLUMNS=PERFORMANCE_COLUMNS, matrix_text=matrix_text
    )
    path.write_text(text, encoding="utf-8")
