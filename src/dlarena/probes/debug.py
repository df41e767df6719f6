"""The debuggability probes, host side: each framework's mistakes run in its own environment
and worker process (frameworks/<name>/mistakes.py), the records read back."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dlarena.codec import decode
from dlarena.frameworks import TIERS
from dlarena.probes.host import ProbeFailed, run_worker
from dlarena.probes.records import PROBES, DebugRecord, DebugTask


def probe_framework(
    framework: str, home: Path, threads: int, timeout_s: float = 600.0
) -> list[DebugRecord]:
    """One record per probe and tier; a missing environment is a named skip of each."""
    task = DebugTask(framework, TIERS, threads)
    try:
        found = run_worker(framework, "dlarena.probes.debug_worker", task, home, threads, timeout_s)
    except ProbeFailed as exc:
        return [
            DebugRecord(framework, probe, tier, "skipped", reason=str(exc))
            for probe in PROBES
            for tier in TIERS
        ]
    return [decode(DebugRecord, record) for record in found]


def probe_all(
    frameworks: list[str], home: Path, threads: int, on_progress: Callable[[str], None]
) -> list[DebugRecord]:
    """One record per framework, probe and tier. Nothing here is timed, so the frameworks are
    probed side by side, one per CPU (four one after another took 17 s on two cores)."""
    width = max(1, min(len(frameworks), len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(width) as pool:
        on_progress(f"debug probes: {', '.join(frameworks)}")
        found = pool.map(lambda f: probe_framework(f, home, threads), frameworks)
        return [record for each in found for record in each]
