"""The report's charts of `dlarena converge`: held-out accuracy on the way to the target, and
each run's training loss against the envelope around the float64 run."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dlarena.converge.records import ConvergeRecord, Envelope
from dlarena.report.figures import _grid, _place


def _by_task(records: list[ConvergeRecord]) -> list[tuple[str, list[ConvergeRecord]]]:
    """Per task, its runs by framework, tier and seed."""
    tasks = sorted({r.task for r in records})
    order = lambda r: (r.framework, r.tier, r.seed)  # noqa: E731
    return [(task, sorted((r for r in records if r.task == task), key=order)) for task in tasks]


def _line(r: ConvergeRecord) -> dict[str, str]:
    return {"dash": "solid" if r.tier == "compiled" else "dot"}


def convergence(records: Sequence[ConvergeRecord]) -> go.Figure | None:
    """Held-out accuracy against the training steps' seconds, one panel per task, one line per
    framework, tier and seed, the target dotted."""
    groups = _by_task([r for r in records if r.curve])
    if not groups:
        return None
    fig, grid_rows = _grid([f"{task}: held-out accuracy" for task, _ in groups])
    for index, (task, mine) in enumerate(groups):
        for r in mine:
            fig.add_trace(
                go.Scatter(
                    name=f"{task} {r.framework} {r.tier} seed {r.seed}",
                    x=[p.seconds for p in r.curve],
                    y=[p.accuracy for p in r.curve],
                    mode="lines+markers",
                    line=_line(r),
                    text=[f"step {p.step}, held-out loss {p.loss:.4g}" for p in r.curve],
                ),
                **_place(index),
            )
        fig.add_hline(y=mine[0].target, line_dash="dash", line_color="grey", **_place(index))
    fig.update_xaxes(title_text="training seconds")
    fig.update_layout(height=380 * grid_rows, title="Training to a target")
    return fig


def envelope(records: Sequence[ConvergeRecord]) -> go.Figure | None:
    """Each run's training loss off the float64 run's, relative, step by step (log scale), over
    the shaded envelope: the float32 loss bound once per step taken."""
    groups = _by_task([r for r in records if r.envelope and r.envelope.deviation])
    if not groups:
        return None
    fig, grid_rows = _grid([f"{task}: training loss off the float64 run" for task, _ in groups])
    for index, (task, mine) in enumerate(groups):
        first: Envelope = mine[0].envelope  # type: ignore[assignment]  # kept: it has one
        steps = list(range(first.steps))
        bound = [first.loss_tolerance * (1 + t) for t in steps]
        floor = [1e-10] * len(steps)
        fig.add_trace(go.Scatter(x=steps, y=floor, mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip"), **_place(index))  # fmt: skip
        fig.add_trace(
            go.Scatter(name=f"{task} envelope", x=steps, y=bound, mode="lines", fill="tonexty",
                       line={"color": "grey", "dash": "dash"}, fillcolor="rgba(128,128,128,0.15)"),
            **_place(index),
        )  # fmt: skip
        for r in mine:
            found = r.envelope.deviation if r.envelope else ()
            deviation = [max(d, 1e-10) for d in found]  # 0 on a log axis
            fig.add_trace(
                go.Scatter(name=f"{task} {r.framework} {r.tier} seed {r.seed}",
                           x=steps[: len(deviation)], y=deviation, mode="lines", line=_line(r)),
                **_place(index),
            )  # fmt: skip
    fig.update_yaxes(type="log", title_text="|loss - float64 loss| / float64 loss")
    fig.update_xaxes(title_text="training step")
    fig.update_layout(height=380 * grid_rows, title="Training that stays the same")
    return fig
