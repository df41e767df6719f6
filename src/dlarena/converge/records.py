"""`dlarena converge`'s records: one framework, tier and seed trained to a target, with its
held-out curve and where it sat in the envelope around the float64 run."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """One held-out evaluation: after `step` steps, `seconds` of training in (0: the float64
    run, which is not timed)."""

    VERSION: ClassVar[int] = 1
    step: int
    loss: float
    accuracy: float
    seconds: float = 0.0
    train_loss: float | None = None  # the mean training loss since the last evaluation


@dataclasses.dataclass(frozen=True)
class HeldOutLoss:
    """The held-out loss at the envelope's last step (checked against the float64 run's)."""

    VERSION: ClassVar[int] = 1
    step: int
    loss: float


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """A training run's loss at every step and its held-out curve: the float64 run's (the
    envelope's reference) or a framework's; `envelope_held_out`: the framework's held-out loss
    at the envelope's last step, where that is not on its curve."""

    VERSION: ClassVar[int] = 1
    losses: tuple[float, ...]
    curve: tuple[CurvePoint, ...]
    envelope_held_out: HeldOutLoss | None = None


@dataclasses.dataclass(frozen=True)
class ConvergeTask:
    """What a converge worker trains (JSON on its stdin): the spec in one framework (its adapter
    module) and tier, through the data file's order of batches (an .npz with the initial weights
    "weights:NAME", x_train, y_train, x_test, y_test and "order", steps x batch row indices),
    evaluating the held-out split every `eval_every` steps and once more at `envelope_step`."""

    VERSION: ClassVar[int] = 1
    module: str
    workload: dict[str, Any]  # the canonical spec (Workload.to_dict)
    tier: str
    data: str
    eval_every: int
    envelope_step: int | None = None
    threads: int = 1


@dataclasses.dataclass(frozen=True)
class ConvergeRun(Trajectory):
    """A converge worker's line: its trajectory, each step's seconds (the step and its
    synchronization only) and the framework's version."""

    step_s: tuple[float, ...] = ()
    framework_version: str | None = None


@dataclasses.dataclass(frozen=True)
class Envelope:
    """Where a run sat in the envelope around the float64 run (converge/envelope.py): its worst
    distance from it as a share of the bound there (at most 1: inside) and where that was."""

    VERSION: ClassVar[int] = 1
    steps: int
    loss_tolerance: float
    worst: float
    worst_at: str
    inside: bool
    deviation: tuple[float, ...] = ()  # each step's training loss from the float64 one, relative

    def text(self) -> str:
        if self.inside:
            return f"inside ({self.worst:.2g} of the bound, {self.steps} steps)"
        return f"OUTSIDE: {self.worst:.3g}x the bound, {self.worst_at}"


@dataclasses.dataclass(frozen=True)
class ConvergeRecord:
    """One training run: `status` reached (the target held-out accuracy), missed, or failed (the
    reason). Steps and seconds to the target are the first evaluation at or above it."""

    VERSION: ClassVar[int] = 1
    framework: str
    task: str
    tier: str
    seed: int
    cell: str  # the record's key in the store: task and seed
    target: float
    status: str
    reason: str | None = None
    steps_to_target: int | None = None
    seconds_to_target: float | None = None
    final_accuracy: float | None = None
    final_loss: float | None = None
    first_step_s: float | None = None  # with any compilation
    step_s: float | None = None  # the median of the others
    framework_version: str | None = None
    curve: tuple[CurvePoint, ...] = ()
    losses: tuple[float, ...] = ()  # each step's training loss
    envelope_held_out: HeldOutLoss | None = None
    envelope: Envelope | None = None
    id: int | None = None  # the store's, once stored
    measured_at: float | None = None

    @property
    def trained_s(self) -> float | None:
        """The seconds of training in at the last evaluation."""
        return self.curve[-1].seconds if self.curve else None

    @property
    def passed(self) -> bool:
        """Reached the target inside the envelope."""
        return self.status == "reached" and self.envelope is not None and self.envelope.inside
