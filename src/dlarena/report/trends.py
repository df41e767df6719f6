"""The dashboard's charts across runs (plotly): a framework's throughput over runs, and one run
against another."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dlarena.measure.compare import RatioRow
from dlarena.report.figures import interval
from dlarena.report.records import HistoryPoint


def history(series: dict[str, list[HistoryPoint]]) -> go.Figure | None:
    """One line per cell kind over runs (samples/s with its CI); a dotted line marks each run
    where the environment changed (framework version or CPU), named in its label."""
    if not series:
        return None
    fig = go.Figure()
    changes: dict[int, set[str]] = {}
    for name, points in series.items():
        fig.add_trace(
            go.Scatter(
                name=name,
                x=[p.run_id for p in points],
                y=[p.samples_per_s for p in points],
                mode="lines+markers",
                error_y=interval(
                    [p.samples_per_s for p in points],
                    [p.low for p in points],
                    [p.high for p in points],
                ),
            )
        )
        for before, after in zip(points, points[1:], strict=False):
            if before.environment != after.environment:
                changes.setdefault(after.run_id, set()).add(after.environment)
    for run_id, what in sorted(changes.items()):
        fig.add_vline(
            x=run_id, line_dash="dot", line_color="#888",
            annotation_text="; ".join(sorted(what)), annotation_position="top left",
        )  # fmt: skip
    fig.update_layout(
        title="Throughput per run (samples/s, 95% CI)",
        xaxis={"title": "run", "dtick": 1},
        yaxis_type="log",
        height=520,
    )
    return fig


VERDICT_COLOURS = {"faster": "#2c7b3f", "slower": "#b2182b"}


def ratios(rows: Sequence[RatioRow]) -> go.Figure | None:
    """Run B over run A per cell, with the ratio's confidence interval; 1 is no change."""
    if not rows:
        return None
    fig = go.Figure(
        go.Bar(
            x=[r.cell for r in rows],
            y=[r.ratio for r in rows],
            error_y=interval(
                [r.ratio for r in rows], [r.ci_low for r in rows], [r.ci_high for r in rows]
            ),
            marker_color=[VERDICT_COLOURS.get(r.verdict, "#999") for r in rows],
        )  # fmt: skip
    )
    fig.add_hline(y=1.0, line_dash="dot")
    fig.update_layout(title="Throughput, run B / run A", height=460)
    return fig
