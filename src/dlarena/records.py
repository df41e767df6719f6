"""What a cell produces, as immutable records: from the worker, over the pipe, into the store.

Standard library only: the worker (numpy 1.23 or 2, any framework environment) imports it too.
Records travel as JSON objects carrying their record version (see codec.py).

Their format history (PROTOCOL_VERSION and each class's VERSION): docs/architecture.md,
"Record formats".
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

PROTOCOL_VERSION = 2


@dataclasses.dataclass(frozen=True, slots=True)
class ParityCheck:
    """One comparison with the float64 reference: the figures, the tolerance, the verdict."""

    VERSION: ClassVar[int] = 2
    check: str  # forward | loss | grads | params | original (an imported model's file)
    max_abs: float
    max_rel: float
    tolerance: float
    passed: bool
    note: str = ""  # how part of it was checked otherwise, and why (2: none before)


@dataclasses.dataclass(frozen=True, slots=True)
class Phases:
    """Seconds spent before the steady state, each phase apart."""

    VERSION: ClassVar[int] = 2
    import_s: float | None = None
    build_s: float | None = None
    first_call_s: float | None = None
    warmup_s: tuple[float, ...] = ()
    peak_rss_mb: float | None = None
    # Where the wall time went, per stage, summed over the cell's processes (2: () before):
    # start, import, build, reference, parity, first_call, warmup, probe, timed, latency, reruns
    stages: tuple[tuple[str, float], ...] = ()

    @property
    def total_s(self) -> float:
        return sum(seconds for _, seconds in self.stages)


@dataclasses.dataclass(frozen=True, slots=True)
class Block:
    """Steps run back to back with one synchronization at the end, in one worker process."""

    VERSION: ClassVar[int] = 2
    process: int
    steps: int
    seconds: float
    # paired isolation: the round of turns it was timed in; the cells of a group that share a
    # (process, round) ran within a second of each other (2: None before; None in a process run)
    round: int | None = None

    @property
    def step_s(self) -> float:
        return self.seconds / self.steps


@dataclasses.dataclass(frozen=True, slots=True)
class Latency:
    """Per-call inference latency at one batch size, each call synchronized."""

    VERSION: ClassVar[int] = 1
    batch_size: int
    calls: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float


@dataclasses.dataclass(frozen=True, slots=True)
class TimingSummary:
    """Steady-state throughput from blocks (median and its CI), spread, and latencies."""

    VERSION: ClassVar[int] = 2
    median_ms: float  # per step, median over every block of every process
    ci_low_ms: float
    ci_high_ms: float
    samples_per_s: float
    samples_per_s_low: float = 0.0
    samples_per_s_high: float = 0.0
    blocks: int = 0
    processes: int = 1
    steps: int = 0
    block_cv: float = 0.0  # block-to-block coefficient of variation
    process_cv: float = 0.0  # of the per-process medians
    latency: tuple[Latency, ...] = ()
    gflops: float = 0.0  # achieved: the spec's FLOPs per step x steps per second
    peak_fraction: float | None = None  # of the run's GEMM peak at its precision, same CPUs

    def latency_at(self, batch_size: int) -> Latency | None:
        return next((lat for lat in self.latency if lat.batch_size == batch_size), None)


@dataclasses.dataclass(frozen=True, slots=True)
class Threading:
    """The thread settings of a cell, within its CPU budget (pinned by affinity)."""

    VERSION: ClassVar[int] = 2
    policy: str  # fair | tuned
    intra_op: int
    inter_op: int = 1
    cpus: tuple[int, ...] = ()  # CPU affinity of the worker
    sweep: tuple[tuple[str, float], ...] = ()  # tuned: each candidate and its samples/s
    # keep: the C library keeps freed memory for the next step; system: its defaults (2: absent,
    # so system)
    malloc: str = "system"

    @property
    def label(self) -> str:
        """'fair 2x1 on 2 cpus, malloc keep': policy, intra x inter threads, CPUs allowed, and
        the memory policy."""
        return (
            f"{self.policy} {self.intra_op}x{self.inter_op} on {len(self.cpus)} cpus, "
            f"malloc {self.malloc}"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class MachineLoad:
    """What else used the worker's CPUs while it measured (from /proc)."""

    VERSION: ClassVar[int] = 3
    other_share: float  # CPU time of other processes / (wall time x CPUs allowed)
    steal_share: float  # hypervisor steal, same scale
    loadavg_before: float
    loadavg_after: float
    # float32 GEMM GFLOP/s on the worker's CPUs and threads, the lower of a probe just before
    # and just after the timed blocks (2: None before)
    probe_gflops: float | None = None
    # minor page faults the worker itself took over its timed blocks (3: None before)
    minor_faults: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Memory:
    """Memory during the steady phase: sampled resident set, and the allocator's own peak."""

    VERSION: ClassVar[int] = 1
    peak_rss_mb: float
    allocator_peak_mb: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Setup:
    """What an adapter's `configure` set before the first op; passed to the adapter."""

    VERSION: ClassVar[int] = 1
    framework_version: str
    device: str  # in the framework's own words: 'cpu', 'cuda', '/GPU:0', 'gpu(0)', a provider
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    extras: tuple[tuple[str, str], ...] = ()  # versions and builds that matter (onnx, oneDNN)


@dataclasses.dataclass(frozen=True, slots=True)
class Environment:
    """Where a cell ran: the framework setup plus interpreter, machine and dlarena version."""

    VERSION: ClassVar[int] = 2
    setup: Setup | None = None
    cpu_model: str | None = None
    affinity: tuple[int, ...] = ()
    speed_env: tuple[tuple[str, str], ...] = ()  # OMP_*, XLA_FLAGS, TF_*, PJRT_NPROC, ...
    python: str | None = None
    numpy: str | None = None
    platform: str | None = None
    machine: str | None = None
    cpu_count: int | None = None
    threads: int | None = None
    executable: str | None = None
    dlarena_git_sha: str | None = None

    @property
    def framework_version(self) -> str | None:
        return self.setup.framework_version if self.setup else None


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerTask:
    """One cell for one worker process: what to build, where the reference is, how to measure."""

    VERSION: ClassVar[int] = 3
    module: str
    workload: dict[str, Any]
    tier: str
    mode: str
    threading: Threading
    device: str
    reference: str
    process: int = 0  # which of the cell's worker processes this is
    warmup: int = 3  # synchronized calls before measuring
    blocks: int = 5
    min_block_s: float = 0.2
    min_block_steps: int = 10
    batches: int = 4  # distinct pre-placed batches the steps cycle over
    latency_s: float = 0.3  # per batch size, inference cells only
    paired: bool = False  # stay live after warm-up and time one block per command (3)
    # paired: min_block_steps applies only as far as those steps fit in this many seconds (3)
    steps_within_s: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerResult:
    """The worker's 'result' event."""

    VERSION: ClassVar[int] = 2
    environment: Environment
    phases: Phases
    blocks: tuple[Block, ...]
    latency: tuple[tuple[int, tuple[float, ...]], ...]  # (batch size, per-call seconds)
    load: MachineLoad
    memory: Memory


@dataclasses.dataclass(frozen=True, slots=True)
class CellResult:
    """One cell as measured and stored; `id` and `run_id` are 0 until the store assigns them."""

    VERSION: ClassVar[int] = 2
    workload: str
    runtime: str
    tier: str
    mode: str
    status: str  # ok | failed
    spec: str | None = None  # the workload spec, canonical JSON
    spec_hash: str | None = None
    api: str | None = None  # the API level the adapter is written in: nn.Module, keras3, ...
    env_name: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    stderr_tail: str | None = None
    parity: tuple[ParityCheck, ...] = ()
    environment: Environment = Environment()
    phases: Phases = Phases()
    summary: TimingSummary | None = None
    threading: Threading | None = None
    warnings: tuple[str, ...] = ()  # 'code: detail', e.g. 'machine_busy: ...'
    blocks: tuple[Block, ...] = ()
    latency: tuple[tuple[int, tuple[float, ...]], ...] = ()  # (batch size, per-call seconds)
    load: tuple[MachineLoad, ...] = ()  # one per worker process
    memory: Memory | None = None
    reruns: int = 0  # processes run again because the machine had a slow stretch
    id: int = 0
    run_id: int = 0

    @property
    def probes(self) -> list[float]:
        """The GEMM probe of each worker process (GFLOP/s), where one ran."""
        return [p for load in self.load if (p := load.probe_gflops) is not None]

    @property
    def parity_passed(self) -> bool | None:
        """True or False once parity ran; None when it never did."""
        return all(c.passed for c in self.parity) if self.parity else None

    @property
    def ranked(self) -> bool:
        """Only cells that ran and passed parity are ever compared for speed."""
        return self.status == "ok" and self.parity_passed is True and self.summary is not None

    @property
    def samples_per_s(self) -> float:
        """Throughput of a ranked cell (0.0 for one that never measured)."""
        return self.summary.samples_per_s if self.summary else 0.0

    @property
    def label(self) -> str:
        return f"{self.workload}/{self.runtime}/{self.tier}/{self.mode}"

    @property
    def batch_size(self) -> int | None:
        """The batch the cell measured, from its stored spec (None for cells stored before 3)."""
        return int(json.loads(self.spec)["batch_size"]) if self.spec else None

    @property
    def warning_codes(self) -> tuple[str, ...]:
        return tuple(w.split(":", 1)[0] for w in self.warnings)
