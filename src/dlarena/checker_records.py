"""The parity checker's records (python -m dlarena.checker): what it is asked to check and
what each item came to. Standard library only: the checker imports them too. Their history is
in records.py, beside the other records'."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from dlarena.records import ParityCheck, Threading


@dataclasses.dataclass(frozen=True, slots=True)
class CheckItem:
    """One spec, tier and mode for the parity checker to build and check."""

    VERSION: ClassVar[int] = 1
    workload: dict[str, Any]
    tier: str
    mode: str
    reference: str


@dataclasses.dataclass(frozen=True, slots=True)
class CheckTask:
    """Everything one parity checker process checks, in one framework, timing nothing."""

    VERSION: ClassVar[int] = 1
    module: str
    threading: Threading
    device: str
    items: tuple[CheckItem, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ParityVerdict:
    """One spec, runtime, tier and mode checked against the float64 reference."""

    VERSION: ClassVar[int] = 1
    workload: str
    spec_hash: str
    runtime: str
    tier: str
    mode: str
    status: str  # ok (the checks ran; each says whether it passed) | failed (they could not)
    checks: tuple[ParityCheck, ...] = ()
    reason: str | None = None
    stderr_tail: str | None = None
    framework_version: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "ok" and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def label(self) -> str:
        return f"{self.workload}/{self.runtime}/{self.tier}/{self.mode}"
