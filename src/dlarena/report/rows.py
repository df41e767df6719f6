"""One flat row per stored cell: what every table, JSON document and report shows."""

from __future__ import annotations

from typing import Any

from dlarena.records import CellResult

SUMMARY_COLUMNS = (
    "workload",
    "runtime",
    "tier",
    "mode",
    "status",
    "parity",
    "samples_per_s",
    "median_ms",
    "p99_ms",
    "first_call_s",
    "import_s",
)


def parity_verdict(cell: CellResult) -> str:
    if cell.parity_passed is None:
        return "not run"
    return "pass" if cell.parity_passed else "FAIL"


def cell_row(cell: CellResult) -> dict[str, Any]:
    s, env, phases = cell.summary, cell.environment, cell.phases
    return {
        "cell_id": cell.id,
        "run_id": cell.run_id,
        "workload": cell.workload,
        "spec_hash": cell.spec_hash,
        "runtime": cell.runtime,
        "tier": cell.tier,
        "mode": cell.mode,
        "status": cell.status,
        "reason": cell.reason,
        "parity": parity_verdict(cell),
        "ranked": cell.ranked,
        "parity_checks": [
            {
                "check": c.check,
                "max_abs": c.max_abs,
                "max_rel": c.max_rel,
                "tolerance": c.tolerance,
                "passed": c.passed,
            }
            for c in cell.parity
        ],
        "median_ms": s.median_ms if s else None,
        "ci_low_ms": s.ci_low_ms if s else None,
        "ci_high_ms": s.ci_high_ms if s else None,
        "p90_ms": s.p90_ms if s else None,
        "p99_ms": s.p99_ms if s else None,
        "samples_per_s": s.samples_per_s if s else None,
        "unstable": s.unstable if s else None,
        "import_s": phases.import_s,
        "build_s": phases.build_s,
        "first_call_s": phases.first_call_s,
        "peak_rss_mb": phases.peak_rss_mb,
        "env_name": cell.env_name,
        "framework_version": env.framework_version,
        "python": env.python,
        "threads": env.threads,
        "git_sha": env.dlarena_git_sha,
    }


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)
