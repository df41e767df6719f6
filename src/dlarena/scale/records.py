"""`dlarena scale`'s records: one framework's data-parallel machinery on one worker count."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


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


@dataclasses.dataclass(frozen=True)
class ScaleTask:
    """What one scaling worker process trains (JSON on its stdin). `ranks`: the replicas this
    process trains (its own rank, or with `one_process` every rank: the framework's machinery is
    one process over several devices); `independent`: it trains alone (no group), the machine's
    ceiling for N processes; `ports`: one per rank, every address on the loopback."""

    VERSION: ClassVar[int] = 1
    workload: dict[str, Any]  # the canonical spec (Workload.to_dict)
    steps: int
    warmup: int
    device: str
    independent: bool
    module: str = ""  # the framework's scale module (its Replica)
    rank: int = 0
    ranks: tuple[int, ...] = (0,)
    world: int = 1
    ports: tuple[int, ...] = ()
    threads: int = 1
    one_process: bool = False
    cpus: tuple[int, ...] = ()
    hang_s: float = 60.0  # a worker still running then writes its stacks and exits


@dataclasses.dataclass(frozen=True)
class ScaleResult:
    """One scaling worker's line: its timed steps' seconds, the last loss, and a digest of each
    replica's parameters (identical across ranks when the machinery is right)."""

    VERSION: ClassVar[int] = 1
    rank: int
    seconds: float
    steps: int
    batch: int  # samples per step in this process
    loss: float
    digests: tuple[str, ...]
    update_norm: float
