"""The probes' records: one debugging mistake in one framework and tier, one export path run on
one workload. The probe workers send them as JSON lines; the host reads them into these (the
store keeps them with their version, codec.py) and everything after reads them by field."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

# The debugging mistakes, in the order each framework's worker makes them (frameworks/*/mistakes.py)
PROBES = ("shape", "dtype", "nan", "nan_check")


@dataclasses.dataclass(frozen=True)
class DebugRecord:
    """How a framework told one mistake made on purpose (probes/debug_worker.py): `status` works
    (caught, and the error is about the mistake), fails (unreported, or an unrelated error) or
    skipped (no environment; no NaN-checking mode)."""

    VERSION: ClassVar[int] = 1
    framework: str
    probe: str  # shape | dtype | nan | nan_check
    tier: str
    status: str
    reason: str | None = None  # skipped: why
    nan_mode: str | None = None  # nan_check: the framework's NaN-checking mode
    caught: bool = False
    when: str = "never"  # the stage it was caught at
    raised_at: str | None = None  # the stage an error came from, about the mistake or not
    error_type: str | None = None
    message: str | None = None  # its first characters (MESSAGE_KEPT)
    message_length: int | None = None
    names_shapes: bool = False  # the message names both mismatched sizes
    names_dtypes: bool = False  # ... both dtypes
    faulty_line: bool = False  # the traceback's last frame in the case is the faulty line
    message_names_line: bool = False  # the message itself cites it
    result: str | None = None  # unreported: what came back instead
    output_shape: tuple[int, ...] = ()
    finite: bool | None = None
    id: int | None = None  # the store's, once stored
    measured_at: float | None = None

    @property
    def names_it(self) -> bool | None:
        """Whether the message names what is wrong (a NaN caught is named by being caught: None)."""
        return {"shape": self.names_shapes, "dtype": self.names_dtypes}.get(self.probe)

    @property
    def points_to(self) -> str | None:
        """What points at the faulty line: the traceback, the message, or nothing (None)."""
        return "traceback" if self.faulty_line else "message" if self.message_names_line else None

    @property
    def said(self) -> str:
        """What the framework said, or what came back, or why it was skipped."""
        return self.message or self.result or self.reason or ""

    def points(self) -> float:
        """0-10: 0 when it passes unreported (or no mode catches it), else 5 for catching it, 2.5
        more when the message names what is wrong and 2.5 when something points at the line."""
        if not self.caught:
            return 0.0
        return 5.0 + 2.5 * (self.names_it is not False) + 2.5 * (self.points_to is not None)

    def cell(self) -> str:
        """Its debuggability matrix cell: caught at which stage, or how it went unreported."""
        if self.status == "skipped":
            return "no mode"
        if not self.caught:
            return "silent" if self.result else f"unrelated error at {self.raised_at}"
        marks = ("" if self.names_it is not False else ", unnamed") + (
            ", points to line" if self.points_to else ""
        )
        return f"caught at {self.when}{marks}"


@dataclasses.dataclass(frozen=True)
class DeployRecord:
    """One export path run on one workload (probes/deploy_worker.py): `status` works, deprecated
    (works, with a deprecation warning or a deprecated path), fails (the error) or skipped."""

    VERSION: ClassVar[int] = 1
    framework: str
    path: str
    workload: str  # its label
    status: str
    spec_hash: str = ""
    target: str | None = None  # where the artifact runs
    reason: str | None = None  # skipped: why
    error: str | None = None  # fails: what went wrong
    deprecated: str | None = None  # deprecated: the warning or the path's own note
    export_first_s: float | None = None
    export_warm_s: float | None = None
    artifact_bytes: int | None = None
    load_s: float | None = None
    latency_ms: float | None = None
    deprecation_warnings: tuple[str, ...] = ()
    max_abs_diff: float | None = None  # from the framework's own output
    quantized: bool = False  # an int8 path
    relative_diff: float | None = None  # int8: the diff over the largest output
    note: str | None = None
    id: int | None = None  # the store's, once stored
    measured_at: float | None = None

    @property
    def said(self) -> str:
        return self.error or self.deprecated or self.reason or ""

    def cell(self) -> str:
        """Its deployment matrix cell: the status, and how far from the framework its output is."""
        if self.quantized and self.relative_diff is not None:
            return f"{self.status} (int8, {self.relative_diff:.1%} off float32)"
        if self.status in ("works", "deprecated") and self.max_abs_diff is not None:
            return f"{self.status} (diff {self.max_abs_diff:.1g})"
        return self.status


@dataclasses.dataclass(frozen=True)
class DebugTask:
    """What one debugging worker runs (JSON on its stdin): every mistake of its framework, in
    each tier; it answers a DebugRecord per mistake and tier."""

    VERSION: ClassVar[int] = 1
    framework: str
    tiers: tuple[str, ...]
    threads: int = 1


@dataclasses.dataclass(frozen=True)
class DeployTask:
    """What one deployment worker runs (JSON on its stdin): one export path over the workloads
    (canonical specs, Workload.to_dict), each artifact written under `folder/<index>` and called
    `calls` times; it answers a DeployRecord per workload."""

    VERSION: ClassVar[int] = 1
    framework: str
    path: str
    workloads: tuple[dict[str, Any], ...]
    folder: str
    calls: int
    threads: int = 1
