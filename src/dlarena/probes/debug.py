"""The debuggability probes, host side: each framework's mistakes run in its own environment
and worker process (frameworks/<name>/mistakes.py), the records read back."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dlarena.codec import decode
from dlarena.frameworks import TIERS
from dlarena.probes.host import ProbeFailed, run_worker
from dlarena.probes.records import DebugRecord

PROBES = ("shape", "dtype", "nan", "nan_check")


def probe_framework(
    framework: str, home: Path, threads: int, timeout_s: float = 600.0
) -> dict[str, Any]:
    """{'nan_mode', 'records'} for one framework; a missing environment is a named skip."""
    task = {"framework": framework, "tiers": list(TIERS)}
    try:
        found: dict[str, Any] = run_worker(
            framework, "dlarena.probes.debug_worker", task, home, threads, timeout_s
        )
    except ProbeFailed as exc:
        return {"nan_mode": None, "records": _skipped(framework, str(exc))}
    return found


def _skipped(framework: str, reason: str) -> list[dict[str, Any]]:
    return [
        {"probe": p, "tier": t, "status": "skipped", "reason": reason}
        for p in PROBES
        for t in TIERS
    ]


def probe_all(
    frameworks: list[str], home: Path, threads: int, on_progress: Callable[[str], None]
) -> list[DebugRecord]:
    """One record per framework, probe and tier. Nothing here is timed, so the frameworks are
    probed side by side, one per CPU (four one after another took 17 s on two cores)."""
    width = max(1, min(len(frameworks), len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(width) as pool:
        on_progress(f"debug probes: {', '.join(frameworks)}")
        found = pool.map(lambda f: probe_framework(f, home, threads), frameworks)
        records = []
        for framework, each in zip(frameworks, found, strict=True):
            for record in each["records"]:
                mode = each["nan_mode"] if record["probe"] == "nan_check" else None
                records.append(
                    decode(DebugRecord, {**record, "framework": framework, "nan_mode": mode})
                )
    return records
