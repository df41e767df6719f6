"""How busy the machine is, from /proc (standard library only: workers and the host use it).

A figure measured while other processes took a share of the same CPUs is slower than the
framework is; dlarena flags it (machine_busy) instead of ranking on it.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from dlarena.records import MachineLoad
from dlarena.run_records import PROBE_RETRIES


class Probed(Protocol):
    @property
    def probes(self) -> list[float]:
        """GEMM probes (GFLOP/s) taken while it measured; empty when none ran."""
        ...


T = TypeVar("T", bound=Probed)

BUSY_SHARE = 0.10  # other processes above 10% of the worker's CPUs: the figure is suspect
# A minor page fault with its page zeroed costs about 1-2 us here (torch cnn: 2,000 faults per
# step made steps 3.8 ms slower); over 5% of a step, the figure depends on the C library.
FAULT_S, FAULT_SHARE = 1e-6, 0.05
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
# /proc/stat fields after the cpu name: user nice system idle iowait irq softirq steal ...
_IDLE_FIELDS, _STEAL = (3, 4), 7


@dataclasses.dataclass(frozen=True)
class Snapshot:
    wall_s: float
    busy_s: float  # non-idle CPU time of the CPUs watched, every process
    steal_s: float
    own_s: float  # CPU time of this process (all its threads)
    loadavg: float
    cpus: int


def _cpu_times(cpus: set[int]) -> tuple[float, float]:
    busy = steal = 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(v) for v in fields[:8]]
        busy += sum(t for i, t in enumerate(ticks) if i not in _IDLE_FIELDS)
        steal += ticks[_STEAL]
    return busy * _TICK_S, steal * _TICK_S


def snapshot() -> Snapshot:
    """CPU time on this process's allowed CPUs, its own CPU time, and the load average."""
    cpus = os.sched_getaffinity(0)
    busy, steal = _cpu_times(cpus)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(
        time.monotonic(),
        busy,
        steal,
        usage.ru_utime + usage.ru_stime,
        os.getloadavg()[0],
        len(cpus),
    )


def load_between(before: Snapshot, after: Snapshot) -> MachineLoad:
    """The share of the watched CPUs that other processes (and the hypervisor) took."""
    return load_over([(before, after)])


def load_over(spans: Sequence[tuple[Snapshot, Snapshot]]) -> MachineLoad:
    """The share of the watched CPUs that other processes (and the hypervisor) took over these
    stretches together (a paired worker's own timed blocks, not the turns of the others)."""
    capacity = max(sum(after.wall_s - before.wall_s for before, after in spans), 1e-9)
    capacity *= spans[0][0].cpus
    busy = sum(after.busy_s - before.busy_s for before, after in spans)
    own = sum(after.own_s - before.own_s for before, after in spans)
    steal = sum(after.steal_s - before.steal_s for before, after in spans)
    return MachineLoad(
        other_share=max(0.0, (busy - own) / capacity),
        steal_share=max(0.0, steal / capacity),
        loadavg_before=spans[0][0].loadavg,
        loadavg_after=spans[-1][1].loadavg,
    )


def minor_faults() -> int:
    """Minor page faults this process has taken (every thread): memory the C library handed back
    to the system and took again costs one per 4 KiB page touched."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fault_warning(
    loads: Sequence[MachineLoad], steps: int, step_s: float, malloc: str
) -> str | None:
    """'page_faults: ...' when the worker's own page faults cost a noticeable share of a step
    (`malloc`: the memory policy it ran under)."""
    counted = [load.minor_faults for load in loads if load.minor_faults is not None]
    if not counted or steps <= 0:
        return None
    per_step = sum(counted) / steps
    share = per_step * FAULT_S / step_s
    if share <= FAULT_SHARE:
        return None
    cause = (
        "the framework maps and unmaps memory itself every step (beyond what --malloc keep holds)"
        if malloc == "keep"
        else "the C library returns freed memory to the system and takes it back every step, "
        "as often as each process's history says; measure with --malloc keep"
    )
    return (
        f"page_faults: {per_step:,.0f} minor page faults per step (about {share:.0%} of a step "
        f"at ~1 us each): {cause}"
    )


def gemm_probe(seconds: float = 0.15, n: int = 384) -> float:
    """float32 GEMM GFLOP/s on this process's CPUs with its BLAS threads: how fast the machine
    runs for a multi-threaded worker right now. On shared VMs whole stretches of tens of seconds
    run about 0.7x as fast for two threads while /proc shows nothing; this probe sees them (a
    single-threaded one does not)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a  # BLAS threads started, buffers allocated
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        a @ a
        count += 1
    return 2 * n**3 * count / elapsed / 1e9


# A worker process whose GEMM probe ran under this share of the best seen is run again.
SLOW_PROBE = 0.85


@dataclasses.dataclass
class SlowGuard:
    """The best GEMM probe seen per key (a runtime and thread count: a runtime's own idle threads,
    such as ONNX Runtime's spinning pool, take a steady share from the probe), and the rule that
    reruns a process measured in one of the machine's slow stretches."""

    best: dict[Hashable, float] = dataclasses.field(default_factory=dict)

    def slowdown(self, key: Hashable, probes: list[float]) -> float:
        """The worst of `probes` over the best so far for `key` (1.0: nothing probed)."""
        if not probes:
            return 1.0
        best = self.best[key] = max(self.best.get(key, 0.0), *probes)
        return min(probes) / best

    def steady(
        self,
        run: Callable[[], T],
        key: Hashable,
        calibrate: bool = False,
        retries: int = PROBE_RETRIES,
    ) -> tuple[T, int]:
        """`run()` again while its probes say it ran slow, up to `retries` times; the last
        result and how many times it was rerun. With `calibrate`, the first process of a key (no
        best to judge it by yet) is run twice and the one in the faster stretch kept: without
        that, a run that starts in a slow stretch keeps its first process whatever it measured."""
        result, reruns = run(), 0
        if calibrate and retries and key not in self.best and result.probes:
            self.slowdown(key, result.probes)
            second = run()
            if second.probes and min(second.probes) > min(result.probes):
                result = second
            reruns = 1
        while reruns < retries and self.slowdown(key, result.probes) < SLOW_PROBE:
            result, reruns = run(), reruns + 1
        return result, reruns


def busy_warning(load: MachineLoad) -> str | None:
    """'machine_busy: ...' when others took a noticeable share of the CPUs, else None."""
    taken = load.other_share + load.steal_share
    if taken <= BUSY_SHARE:
        return None
    return (
        f"machine_busy: other processes took {taken:.0%} of this cell's CPUs while it measured "
        f"(load average {load.loadavg_after:.2f}); rerun on a quiet machine or with --wait-quiet"
    )


def wait_quiet(max_wait_s: float, sample_s: float = 1.0) -> MachineLoad:
    """Sample the CPUs until others leave them alone (or `max_wait_s` passes); the last load."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = snapshot()
        time.sleep(sample_s)
        load = load_between(before, snapshot())
        if busy_warning(load) is None or time.monotonic() >= deadline:
            return load


def cpu_model() -> str | None:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


class RssPeak:
    """Peak resident set size of this process over a stretch: the kernel's own high-water mark
    (VmHWM), reset when the stretch starts (writing 5 to /proc/self/clear_refs, Linux 4.0 and
    later), so nothing runs beside the timed code. Where it cannot be reset, a daemon thread
    samples VmRSS every `period_s` instead: that thread takes the GIL 20 times a second, which a
    Python-bound step (an eager JAX or MXNet model) pays for and a plain loop does not."""

    def __init__(self, period_s: float = 0.05):
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._period_s = period_s

    @staticmethod
    def _status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            self.peak_kb = max(self.peak_kb, self._status("VmRSS"))

    def __enter__(self) -> RssPeak:
        self.peak_kb = self._status("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:  # no reset here: sample instead
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            self.peak_kb = max(self.peak_kb, self._status("VmHWM"))
            return
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self._status("VmRSS"))
