"""One flat row per stored cell: what every table, JSON document and report shows."""

from __future__ import annotations

from typing import Any

from dlarena.store import CellRecord

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


def parity_verdict(cell: CellRecord) -> str:
    if cell.parity_passed is None:
        return "not run"
    return "pass" if cell.parity_passed else "FAIL"


def cell_row(cell: CellRecord) -> dict[str, Any]:
    s, env = cell.summary, cell.environment
    return {
        "cell_id": cell.id,
        "run_id": cell.run_id,
        "workload": cell.workload,
        "runtime": cell.runtime,
        "tier": cell.tier,
        "mode": cell.mode,
        "status": cell.status,
        "reason": cell.reason,
        "parity": parity_verdict(cell),
        "ranked": cell.ranked,
        "parity_checks": list(cell.parity),
        "median_ms": s.get("median_ms"),
        "ci_low_ms": s.get("ci_low_ms"),
        "ci_high_ms": s.get("ci_high_ms"),
        "p90_ms": s.get("p90_ms"),
        "p99_ms": s.get("p99_ms"),
        "samples_per_s": s.get("samples_per_s"),
        "unstable": s.get("unstable"),
        "import_s": cell.phases.get("import_s"),
        "build_s": cell.phases.get("build_s"),
        "first_call_s": cell.phases.get("first_call_s"),
        "peak_rss_mb": cell.phases.get("peak_rss_mb"),
        "env_name": cell.env_name,
        "framework_version": env.get("framework_version"),
        "python": env.get("python"),
        "threads": env.get("threads"),
        "git_sha": env.get("dlarena_git_sha"),
    }


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)
