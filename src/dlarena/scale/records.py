"""`dlarena scale`'s records: one framework's data-parallel machinery on one worker count."""

from __future__ import annotations

import dataclasses
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class ScaleRecord:
    """Samples/s of `workers` workers training together, against one worker (efficiency) and
    against as many independent processes (the machine's ceiling); `status` works when every
    replica ended with identical parameters (one digest), else fails."""

    VERSION: ClassVar[int] = 1
    framework: str
    mechanism: str
    workload: str  # its label
    workers: int
    status: str
    samples_per_s: float
    steps_per_s: float
    efficiency: float
    of_ceiling: float
    independent_samples_per_s: float
    identical: bool
    digests: tuple[str, ...] = ()  # the replicas' parameter digests, distinct
    loss: tuple[float, ...] = ()  # each worker's last loss
    update_norm: float | None = None  # rank 0's parameter update over the run
    id: int | None = None  # the store's, once stored
    measured_at: float | None = None

    @property
    def replicas(self) -> str:
        return "identical" if self.identical else "DIFFER"
