"""What a cell produces, as immutable records: from the worker, over the pipe, into the store.

Standard library only: the worker (numpy 1.23 or 2, any framework environment) imports it too.
Records travel as JSON objects carrying their record version; `decode` refuses a newer one.

Format history (PROTOCOL_VERSION, the worker protocol and the reference file):
  1 - task JSON on stdin; JSON lines {"event": progress | parity | result | error} on stdout;
      every task and event carries "protocol"; the reference .npz holds "format_version".
Record history (each class's VERSION):
  ParityCheck 1, Phases 1, TimingSummary 1, Setup 1, Environment 1, WorkerResult 1,
  WorkerTask 1, CellResult 1 - the first typed records (store schema 3).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, TypeVar

from dlarena.errors import DlarenaError

PROTOCOL_VERSION = 1

R = TypeVar("R")


@dataclasses.dataclass(frozen=True, slots=True)
class ParityCheck:
    """One comparison with the float64 reference: the figures, the tolerance, the verdict."""

    VERSION: ClassVar[int] = 1
    check: str  # forward | loss | grads | params
    max_abs: float
    max_rel: float
    tolerance: float
    passed: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Phases:
    """Seconds spent before the steady state, each phase apart."""

    VERSION: ClassVar[int] = 1
    import_s: float | None = None
    build_s: float | None = None
    first_call_s: float | None = None
    warmup_s: tuple[float, ...] = ()
    peak_rss_mb: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TimingSummary:
    """Median step time with its confidence interval, latency percentiles and throughput."""

    VERSION: ClassVar[int] = 1
    calls: int
    repeats: int
    median_ms: float
    ci_low_ms: float
    ci_high_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    samples_per_s: float
    repeat_cv: float
    unstable: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Setup:
    """What an adapter's `configure` set before the first op; passed to the adapter."""

    VERSION: ClassVar[int] = 1
    framework_version: str
    device: str  # in the framework's own words: 'cpu', 'cuda', '/GPU:0', 'gpu(0)', a provider
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    extras: tuple[tuple[str, str], ...] = ()  # other versions that matter (onnx, flax, keras)


@dataclasses.dataclass(frozen=True, slots=True)
class Environment:
    """Where a cell ran: the framework setup plus interpreter, machine and dlarena version."""

    VERSION: ClassVar[int] = 1
    setup: Setup | None = None
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
    """One cell for one worker: what to build, where the reference is, how to measure."""

    VERSION: ClassVar[int] = 1
    module: str
    workload: dict[str, Any]
    tier: str
    mode: str
    threads: int
    device: str
    reference: str
    warmup: int
    repeats: int
    min_repeat_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerResult:
    """The worker's 'result' event."""

    VERSION: ClassVar[int] = 1
    environment: Environment
    phases: Phases
    samples: tuple[tuple[float, ...], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class CellResult:
    """One cell as measured and stored; `id` and `run_id` are 0 until the store assigns them."""

    VERSION: ClassVar[int] = 1
    workload: str
    runtime: str
    tier: str
    mode: str
    status: str  # ok | failed
    spec: str | None = None  # the workload spec, canonical JSON
    spec_hash: str | None = None
    env_name: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    stderr_tail: str | None = None
    parity: tuple[ParityCheck, ...] = ()
    environment: Environment = Environment()
    phases: Phases = Phases()
    summary: TimingSummary | None = None
    samples: tuple[tuple[float, ...], ...] = ()
    id: int = 0
    run_id: int = 0

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


def encode(record: Any) -> Any:
    """A record (or a tuple of them) as JSON-ready data, each record with its version."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        fields = {f.name: encode(getattr(record, f.name)) for f in dataclasses.fields(record)}
        return {"version": type(record).VERSION, **fields}  # type: ignore[attr-defined]
    if isinstance(record, tuple | list):
        return [encode(item) for item in record]
    return record


def decode(cls: type[R], data: Any) -> R:
    """The record of type `cls` from `encode`'s output; unknown keys from later minor additions
    are ignored, missing ones take their defaults, a newer version is refused."""
    if not isinstance(data, dict):
        raise DlarenaError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    version = data.get("version", 1)
    if version > cls.VERSION:  # type: ignore[attr-defined]
        raise DlarenaError(
            f"{cls.__name__} version {version} is newer than this dlarena understands "
            f"({cls.VERSION}); upgrade dlarena"  # type: ignore[attr-defined]
        )
    hints = typing.get_type_hints(cls)
    values = {
        f.name: _value(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**values)


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value(inner, value)
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0]
        return tuple(_value(item, v) for v in value)
    if dataclasses.is_dataclass(hint):
        return decode(hint, value)  # type: ignore[arg-type]
    if hint is float:
        return float(value)
    return value
