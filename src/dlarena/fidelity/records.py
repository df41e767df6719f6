"""`dlarena fidelity`'s worker records: what one comparison runs, and what it found."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True)
class FidelityTask:
    """One comparison (JSON on the fidelity worker's stdin): the reference implementation by
    name against dlarena's model of `workload` (a canonical spec, Workload.to_dict); with
    `count_only` the parameter counts alone, else also `rounds` alternating rounds of `steps`
    training steps each."""

    VERSION: ClassVar[int] = 1
    reference: str
    workload: dict[str, Any]
    threads: int = 1
    count_only: bool = False
    rounds: int = 0
    steps: int = 0


@dataclasses.dataclass(frozen=True)
class FidelityResult:
    """Both models' trainable parameter counts and (unless only counted) their median step
    times; `status` ok, not installed (the reference's package is missing) or failed."""

    VERSION: ClassVar[int] = 1
    status: str
    reference_parameters: int | None = None
    dlarena_parameters: int | None = None
    versions: str | None = None  # the packages that built both, with their versions
    reference_step_s: float | None = None
    dlarena_step_s: float | None = None
    error: str | None = None
