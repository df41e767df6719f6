"""Training that stays the same: the float64 reference trained from the same initial weights
through the same batches as every framework, and the envelope each framework's curves must stay
inside over the first ENVELOPE_STEPS steps.

The envelope's half-width at step t, relative to the reference's loss, is the parity gate's loss
bound (float32 rounding over the graph's depth and fan-in, measure/parity.py) once for the
step's own forward pass and once more for every update before it: each float32 step can move
the trajectory by at most about what one float32 forward pass differs by. It holds for each
step's training loss and, for a model with batch norm, for the held-out loss at every
evaluation, which reads the running statistics: the reference keeps them as the spec says
(`momentum` is the weight of the old value; the batch's variance without Bessel's correction),
which three parity steps never look at."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dlarena.converge.records import (
    ConvergeRecord,
    CurvePoint,
    Envelope,
    HeldOutLoss,
    Trajectory,
)
from dlarena.measure.parity import tolerances
from dlarena.runner.process import keep_freed_memory
from dlarena.spec import reference
from dlarena.spec.model import Layer, Workload

ENVELOPE_STEPS = 20


def held_out_step(workload: Workload, steps: int) -> int | None:
    """Where the envelope checks the held-out loss once more, beside the curve's evaluations:
    its last step, for a model with batch norm (elsewhere evaluation computes the function the
    training losses follow)."""
    evaluated = any(layer.op == "batch_norm" for layer in workload.layers)
    return min(ENVELOPE_STEPS, steps) if evaluated else None


def running_update(old: np.ndarray, batch: np.ndarray, momentum: float) -> np.ndarray:
    """A running statistic after one batch: the spec's momentum weighs the old value."""
    return momentum * old + (1.0 - momentum) * batch


def reference_run(workload: Workload, data: Path, eval_every: int) -> Trajectory:
    """The float64 run over the first ENVELOPE_STEPS steps of the data file's order (the one the
    frameworks train through): each step's training loss, and for a model with batch norm the
    held-out loss and accuracy at step 0, every `eval_every` steps and the last step."""
    keep_freed_memory()
    with np.load(data) as arrays:
        params = {
            k.split(":", 1)[1]: arrays[k].astype(np.float64)
            for k in arrays.files
            if k.startswith("weights:")
        }
        x, y, order = arrays["x_train"], arrays["y_train"], arrays["order"][:ENVELOPE_STEPS]
        x_test, y_test = arrays["x_test"], arrays["y_test"]

    def keep_running_statistics(layer: Layer, ins: list[np.ndarray]) -> None:
        if layer.op == "batch_norm":
            axes, m = tuple(range(ins[0].ndim - 1)), layer.attr("momentum")
            for name, batch in (
                ("moving_mean", ins[0].mean(axis=axes)),
                ("moving_var", ins[0].var(axis=axes)),
            ):
                key = f"{layer.name}.{name}"
                params[key] = running_update(params[key], batch, m)

    def held_out(step: int) -> CurvePoint:
        logits, _ = reference.forward(workload, params, x_test, training=False)
        loss, _ = reference.softmax_cross_entropy(logits, y_test)
        hits = logits.reshape(-1, logits.shape[-1]).argmax(axis=1) == y_test.reshape(-1)
        return CurvePoint(step, loss, float(hits.mean()))

    last = held_out_step(workload, len(order))
    losses, curve = [], [held_out(0)] if last else []
    batches = ((x[rows], y[rows]) for rows in order)
    steps = reference.train_steps(workload, params, batches, keep_running_statistics)
    for step, (loss, _) in enumerate(steps, start=1):
        losses.append(loss)
        if last and (step % eval_every == 0 or step == last):
            curve.append(held_out(step))
    return Trajectory(tuple(losses), tuple(curve))


def check(workload: Workload, run: Trajectory | ConvergeRecord, ref: Trajectory) -> Envelope:
    """Where one framework's run sits in the envelope: its worst distance from the reference as
    a share of the bound there (at most 1: inside), and where that was."""
    tolerance = tolerances(workload)["loss"]
    points = [
        ("training", t, mine, theirs)
        for t, (mine, theirs) in enumerate(zip(run.losses, ref.losses, strict=False))
    ]
    theirs_at = {p.step: p.loss for p in ref.curve}
    held = [run.envelope_held_out] if run.envelope_held_out else []
    checked: list[CurvePoint | HeldOutLoss] = [*run.curve, *held]
    points += [("held-out", p.step, p.loss, theirs_at[p.step])
               for p in checked if p.step in theirs_at]  # fmt: skip
    shares = [
        (_share(mine, theirs, tolerance * (1 + step)), kind, step)
        for kind, step, mine, theirs in points
    ]
    worst, kind, step = max(shares) if shares else (0.0, "training", 0)
    # each step's training loss from the reference's, relative (the report draws them)
    deviation = tuple(
        float(f"{abs(mine - theirs) / max(abs(theirs), 1e-12):.3g}")
        for kind_of, _, mine, theirs in points
        if kind_of == "training"
    )
    return Envelope(
        len(ref.losses), tolerance, worst, f"{kind} loss at step {step}", worst <= 1.0, deviation
    )


def _share(mine: float, theirs: float, bound: float) -> float:
    """How much of the bound a loss uses (a NaN or infinite loss: all of it and more)."""
    share = abs(mine - theirs) / max(abs(theirs), 1e-12) / bound
    return share if math.isfinite(share) else math.inf
