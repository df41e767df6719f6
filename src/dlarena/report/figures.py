"""The report's charts (plotly), each from the figures that count; None where there is nothing
to draw (the page then says which command fills it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlarena.records import CellResult, ParityCheck
from dlarena.report.rows import ReportRow
from dlarena.scale.records import ScaleRecord
from dlarena.spec.loader import workload_label

TIER_COLORS = {"eager": "#4c78a8", "compiled": "#f58518"}
PHASES = (
    ("import_s", "import"),
    ("build_s", "build"),
    ("first_call_s", "first call / compile"),
    ("warmup_s", "warm-up"),
)
CHECKS = ("forward", "loss", "grads", "params")
MAX_LATENCY_POINTS = 2000  # per cell in a box plot: evenly spaced samples of the calls


def interval(
    values: Sequence[float | None], lows: Sequence[float | None], highs: Sequence[float | None]
) -> dict[str, Any]:
    """Plotly error bars from each value's confidence interval (none where it has none)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [_gap(h, v) for v, h in zip(values, highs, strict=True)],
        "arrayminus": [_gap(v, lo) for v, lo in zip(values, lows, strict=True)],
    }


def _gap(high: float | None, low: float | None) -> float:
    return 0.0 if high is None or low is None else high - low


def _groups(rows: Sequence[ReportRow]) -> list[tuple[str, str]]:
    return sorted({(r.label, r.mode) for r in rows}, key=lambda g: (g[1] != "train", g[0]))


def _grid(titles: list[str], columns: int = 2) -> tuple[go.Figure, int]:
    grid_rows = math.ceil(len(titles) / columns)
    fig = make_subplots(
        rows=grid_rows,
        cols=min(columns, len(titles)),
        subplot_titles=titles,
        vertical_spacing=min(0.3, 0.6 / grid_rows),
    )
    return fig, grid_rows


def _place(index: int, columns: int = 2) -> dict[str, int]:
    return {"row": index // columns + 1, "col": index % columns + 1}


def throughput(rows: Sequence[ReportRow]) -> go.Figure | None:
    """Samples/s per framework and tier with the 95% confidence interval as error bars."""
    groups = _groups(rows)
    if not groups:
        return None
    fig, grid_rows = _grid([f"{label} - {mode} (samples/s)" for label, mode in groups])
    for index, (label, mode) in enumerate(groups):
        for tier, color in TIER_COLORS.items():
            mine = [r for r in rows if (r.label, r.mode, r.tier) == (label, mode, tier)]
            fig.add_trace(
                go.Bar(
                    name=tier,
                    x=[r.runtime for r in mine],
                    y=[r.samples_per_s for r in mine],
                    error_y=interval(
                        [r.samples_per_s for r in mine],
                        [r.samples_per_s_low for r in mine],
                        [r.samples_per_s_high for r in mine],
                    ),
                    marker_color=color,
                    legendgroup=tier,
                    showlegend=index == 0,
                    customdata=[[r.run_id, r.cell_id, r.ci_95] for r in mine],
                    hovertemplate="%{x}: %{y:.4g} samples/s<br>95% CI %{customdata[2]}"
                    "<br>run %{customdata[0]}, cell %{customdata[1]}<extra></extra>",
                ),
                **_place(index),
            )
    fig.update_layout(barmode="group", height=320 * grid_rows, margin={"t": 60})
    return fig


def latency(cells: tuple[CellResult, ...]) -> go.Figure | None:
    """Per-call latency at the workload's batch: the distribution of every synchronized call."""
    measured = [c for c in cells if c.mode == "infer" and c.latency and c.batch_size]
    labels = sorted({workload_label(c.workload, c.spec_hash) for c in measured})
    if not labels:
        return None
    fig, grid_rows = _grid([f"{label} - inference latency (ms per call)" for label in labels])
    for index, label in enumerate(labels):
        for cell in measured:
            if workload_label(cell.workload, cell.spec_hash) != label:
                continue
            seconds = dict(cell.latency).get(cell.batch_size or 0, ())
            step = max(1, len(seconds) // MAX_LATENCY_POINTS)
            fig.add_trace(
                go.Box(
                    name=f"{cell.runtime} {cell.tier}",
                    y=[1000 * s for s in seconds[::step]],
                    marker_color=TIER_COLORS.get(cell.tier),
                    boxpoints=False,
                    showlegend=False,
                ),
                **_place(index),
            )
    fig.update_layout(height=320 * grid_rows, margin={"t": 60})
    fig.update_yaxes(type="log")
    return fig


def phases(rows: Sequence[ReportRow]) -> go.Figure | None:
    """Time to first result: import, build, first call (compile) and warm-up, stacked."""
    if not rows:
        return None
    names = [f"{r.label} {r.runtime} {r.tier} {r.mode}" for r in rows]
    fig = go.Figure(
        [
            go.Bar(name=title, y=names, x=[getattr(r, key) or 0.0 for r in rows], orientation="h")
            for key, title in PHASES
        ]
    )
    fig.update_layout(
        barmode="stack",
        height=120 + 22 * len(rows),
        title="Time to first result (s)",
        margin={"l": 260},
    )
    return fig


def per_cell(rows: Sequence[ReportRow], key: str, title: str) -> go.Figure | None:
    """One bar per cell that has `key`, grouped by tier."""
    kept = [r for r in rows if getattr(r, key) is not None]
    if not kept:
        return None
    fig = go.Figure()
    for tier, color in TIER_COLORS.items():
        mine = [r for r in kept if r.tier == tier]
        fig.add_trace(
            go.Bar(
                name=tier,
                x=[f"{r.label} {r.mode}<br>{r.runtime}" for r in mine],
                y=[getattr(r, key) for r in mine],
                marker_color=color,
            )
        )
    fig.update_layout(barmode="group", title=title, height=420)
    return fig


def memory(rows: Sequence[ReportRow]) -> go.Figure | None:
    """The worker's peak resident memory in the steady phase, per cell."""
    return per_cell(rows, "peak_steady_rss_mb", "Peak RSS while measuring (MB)")


def peak_share(rows: Sequence[ReportRow]) -> go.Figure | None:
    """Achieved GFLOP/s as a percentage of the machine's float32 GEMM peak."""
    return per_cell(rows, "pct_peak", "Percent of the machine's GEMM peak")


def parity_heatmap(rows: Sequence[ReportRow]) -> go.Figure | None:
    """Each check's difference over its tolerance (log10): below 0 passes."""
    kept = [r for r in rows if r.parity_checks]
    if not kept:
        return None
    names = [f"{r.label} {r.runtime} {r.tier} {r.mode}" for r in kept]
    z, text = [], []
    for row in kept:
        found = {c.check: c for c in row.parity_checks}
        z.append([_ratio_log(found.get(check)) for check in CHECKS])
        text.append(
            [
                f"{found[c].max_rel:.2g} / {found[c].tolerance:.2g}" if c in found else "-"
                for c in CHECKS
            ]
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(CHECKS),
            y=names,
            text=text,
            texttemplate="%{text}",
            zmin=-4,
            zmax=1,
            colorscale=[[0, "#2c7b3f"], [0.79, "#d9f0d3"], [0.8, "#fdae61"], [1, "#b2182b"]],
            colorbar={"title": "log10(diff / tolerance)"},
        )
    )
    fig.update_layout(
        title="Parity: max relative difference / tolerance",
        height=140 + 24 * len(kept),
        margin={"l": 260},
    )
    return fig


def _ratio_log(check: ParityCheck | None) -> float | None:
    if check is None:
        return None
    ratio = check.max_rel / check.tolerance if check.tolerance else 0.0
    return max(-4.0, math.log10(ratio)) if ratio > 0 else -4.0


def scaling(rows: Sequence[ScaleRecord]) -> go.Figure | None:
    """Scaling efficiency per framework against the worker count, one line per workload, with
    the ideal (1.0) and each point's share of the machine's ceiling in its hover text."""
    if not rows:
        return None
    fig = go.Figure()
    series: dict[tuple[str, str], list[ScaleRecord]] = {}
    for row in rows:
        series.setdefault((row.framework, row.workload), []).append(row)
    for (framework, workload), points in sorted(series.items()):
        points.sort(key=lambda r: r.workers)
        fig.add_trace(
            go.Scatter(
                name=f"{framework} {workload}",
                x=[r.workers for r in points],
                y=[r.efficiency for r in points],
                mode="lines+markers",
                text=[
                    f"{r.samples_per_s:,.0f} samples/s, {r.of_ceiling:.0%} of {r.workers} "
                    f"independent processes; replicas {r.replicas}"
                    for r in points
                ],
            )
        )
    fig.add_hline(y=1.0, line_dash="dot", annotation_text="ideal")
    fig.update_layout(
        title="Data-parallel scaling efficiency (samples/s over N x one worker's)",
        xaxis_title="workers",
        yaxis_title="efficiency",
        xaxis={"dtick": 1},
        height=420,
    )
    return fig
