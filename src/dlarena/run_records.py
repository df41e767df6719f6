"""What a run records about itself, as immutable records: the measurement protocol, the run's
configuration (what it was asked to measure, to be read, compared and resumed) and the run as
the store lists it. Standard library only, like records.py; their history is there too."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

# A process measured in one of the machine's slow stretches is run again up to this many times
PROBE_RETRIES = 2


def _all_cpus() -> int:
    """How many CPUs this process may use: the default CPU budget of every worker."""
    return len(os.sched_getaffinity(0))


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How each cell is measured; the same for every framework."""

    VERSION: ClassVar[int] = 1
    threads: int = dataclasses.field(default_factory=_all_cpus)
    threading: str = "fair"  # fair | tuned
    malloc: str = "keep"  # keep | system (runner/threads.py)
    processes: int = 3  # worker processes per cell, in rounds across the matrix
    warmup: int = 5
    blocks: int = 10  # per process
    min_block_s: float = 0.2
    min_block_steps: int = 10
    latency_s: float = 0.3
    timeout_s: float = 900.0
    device: str = "cpu"
    wait_quiet_s: float = 0.0  # > 0: before each process, wait up to this for quiet CPUs
    # A process measured in one of the machine's slow stretches is run again up to this many
    # times, and a cell left short gets up to this many more at the end of the run; 0: each
    # process is kept as measured, and a slow-stretch cell carries machine_slow.
    slow_reruns: int = PROBE_RETRIES
    # process: each cell's worker processes run one after another, alone; paired: the cells of a
    # group (one spec and mode, every runtime and tier) run as live workers side by side and take
    # turns, one block each per round (runner/paired.py); no process is run again alone
    isolation: str = "process"
    # paired: the least seconds of one timed block (a turn), and at least min_block_steps where
    # that many fit in min_block_s (a turn of a transformer's 0.2 s steps is one step)
    turn_s: float = 0.05
    # paired: rounds go on past `blocks` until every worker of the group has timed this many
    # seconds (up to 4x the rounds): short turns are noisy (the mlp's 30-50 ms turns take 35-40
    # rounds, the cnn's about 20; docs/measuring.md); 0: `blocks` rounds
    paired_s: float = 2.5
    # seconds of the run's GEMM peak probe (best of 1024^3 products; 0.25 s is ~20 of them here,
    # within 3% of a 1 s probe's best)
    peak_s: float = 1.0

    def worker_fields(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "warmup": self.warmup,
            "blocks": self.blocks,
            "min_block_s": self.min_block_s,
            "min_block_steps": self.min_block_steps,
            "latency_s": self.latency_s,
        }


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What a run records to be read, compared and resumed: the protocol, the plan (each cell
    as spec hash, runtime, tier, mode) with every spec by content hash, the environments'
    overrides and the machine's GEMM peaks."""

    VERSION: ClassVar[int] = 1
    protocol: Protocol = dataclasses.field(default_factory=Protocol)
    cells: tuple[str, ...] = ()  # the cells' labels, in the plan's order
    plan: tuple[tuple[str, str, str, str], ...] = ()
    specs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    env_overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    peak_gflops: float | None = None
    peak_gflops_bf16: float | None = None
    peak_probe_s: float = 0.0  # the seconds the run's peak probes took

    @property
    def peaks(self) -> dict[str, float | None]:
        return {"fp32": self.peak_gflops, "bf16": self.peak_gflops_bf16}

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """A configuration stored before it was a versioned record: a protocol without a memory
        policy measured with the system allocator's defaults."""
        if "version" in data or "protocol" not in data:
            return data
        return {**data, "protocol": {"malloc": "system", **data["protocol"]}}


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """A run as the store lists it ("interrupted": its host is gone); `cells`: how many it
    stored, where the listing counted them."""

    VERSION: ClassVar[int] = 1
    id: int
    started_at: float
    finished_at: float | None
    status: str
    git_sha: str | None
    config: RunConfig
    cells: int | None = None
