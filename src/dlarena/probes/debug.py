"""The debuggability probes, host side: each framework's mistakes run in its own environment
and worker process (src/dlarena/probes/mistakes/), the records read back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlarena.errors import FrameworkUnavailable
from dlarena.frameworks import TIERS
from dlarena.runner import envs
from dlarena.runner.launcher import child_setup, worker_env
from dlarena.runner.threads import fair

PROBES = ("shape", "dtype", "nan", "nan_check")


def probe_framework(
    framework: str, home: Path, threads: int, timeout_s: float = 600.0
) -> dict[str, Any]:
    """{'nan_mode', 'records'} for one framework; a missing environment is a named skip."""
    try:
        python = envs.resolve(framework, home, {}).python
    except FrameworkUnavailable as exc:
        return {"nan_mode": None, "records": _skipped(framework, str(exc))}
    threading = fair(threads)
    proc = subprocess.run(
        [python, "-m", "dlarena.probes.debug_worker"],
        input=json.dumps({"framework": framework, "tiers": list(TIERS)}),
        capture_output=True,
        text=True,
        env=worker_env(threading),
        timeout=timeout_s,
        preexec_fn=child_setup(threading.cpus),
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        reason = f"the probe worker failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
        return {"nan_mode": None, "records": _skipped(framework, reason)}
    return json.loads(lines[-1])


def _skipped(framework: str, reason: str) -> list[dict[str, Any]]:
    return [
        {"probe": p, "tier": t, "status": "skipped", "reason": reason}
        for p in PROBES
        for t in TIERS
    ]


def probe_all(
    frameworks: list[str], home: Path, threads: int, on_progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    """One record per framework, probe and tier."""
    records = []
    for framework in frameworks:
        on_progress(f"debug probes: {framework}")
        found = probe_framework(framework, home, threads)
        for record in found["records"]:
            mode = found["nan_mode"] if record["probe"] == "nan_check" else None
            records.append({"framework": framework, **record, "nan_mode": mode})
    return records
