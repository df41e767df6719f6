"""One flat row per stored cell: what every table, JSON document and report shows."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable
from typing import Any

from dlarena.codec import encode
from dlarena.records import CellResult, ParityCheck, Threading
from dlarena.run_records import RunInfo

SUMMARY_COLUMNS = (
    "workload",
    "runtime",
    "api",
    "tier",
    "mode",
    "threads",
    "status",
    "parity",
    "samples_per_s",
    "ci_95",
    "p50_ms",
    "p99_ms",
    "p50_b1_ms",
    "pct_peak",
    "first_call_s",
    "warnings",
)

TAX_COLUMNS = (
    "workload",
    "tier",
    "mode",
    "raw",
    "library",
    "raw_over_library",
    "ci_95",
    "p_value",
    "verdict",
)
TAX_NOTE = (
    "Each framework's raw ops against its layer library, same model and run: above 1, "
    "the library costs speed (a bootstrap over processes and blocks, or over paired rounds "
    "where they took turns; 'no significant difference' otherwise)."
)

MIXED_COLUMNS = (
    "workload",
    "runtime",
    "tier",
    "mode",
    "precision",
    "speedup",
    "ci_95",
    "p_value",
    "verdict",
    "parity_fp32",
    "parity_mixed",
    "api",
)
MIXED_NOTE = (
    "Mixed precision against float32, same model, runtime, tier and mode: speedup is the "
    "mixed-precision cell's throughput over the float32 one's (a bootstrap over processes and "
    "blocks; 'no significant difference' otherwise); parity: each cell's largest difference "
    "from the float64 reference as a share of its tolerance (bfloat16's derived from its "
    "unit roundoff 2^-8 and the depth, docs/measuring.md); api: each framework's own mechanism."
)


def parity_notes(checks: Iterable[ParityCheck]) -> list[str]:
    """How any check was made otherwise than against the float64 trajectory (its note)."""
    return [f"{c.check}: {c.note}" for c in checks if c.note]


def parity_verdict(cell: CellResult) -> str:
    if cell.parity_passed is None:
        return "not run"
    return "pass" if cell.parity_passed else "FAIL"


@dataclasses.dataclass(frozen=True)
class CellRow:
    """One stored cell as the tables, the report and `--format json` show it (`as_dict`: its
    JSON form, keys in this order)."""

    # what was measured, and whether it passed parity
    cell_id: int | None
    run_id: int | None
    workload: str
    spec_hash: str | None
    size: str | None  # the built-ins' preset; None for a spec file
    runtime: str
    api: str
    tier: str
    mode: str
    status: str
    reason: str | None
    parity: str
    parity_note: str | None
    ranked: bool
    parity_checks: tuple[ParityCheck, ...]
    # throughput, latency and the warnings on them
    median_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    samples_per_s: float | None
    samples_per_s_low: float | None
    samples_per_s_high: float | None
    ci_95: str | None
    blocks: int | None
    processes: int | None
    reruns: int  # processes run again: the machine had a slow stretch
    block_cv: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p50_b1_ms: float | None
    gflops: float | None
    pct_peak: float | None
    p99_b1_ms: float | None
    warnings: str | None
    warning_details: tuple[str, ...]
    # how and where the worker processes ran: threads, memory, phases, versions
    threads: str | int | None
    threading: Threading | None
    peak_steady_rss_mb: float | None
    allocator_peak_mb: float | None
    import_s: float | None
    build_s: float | None
    first_call_s: float | None
    warmup_s: float | None
    peak_rss_mb: float | None
    env_name: str | None
    framework_version: str | None
    python: str | None
    git_sha: str | None

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["parity_checks"] = [
            {
                "check": c.check,
                "max_abs": c.max_abs,
                "max_rel": c.max_rel,
                "tolerance": c.tolerance,
                "passed": c.passed,
            }
            for c in self.parity_checks
        ]
        out["warning_details"] = list(self.warning_details)
        out["threading"] = encode(self.threading) if self.threading else None
        return out


@dataclasses.dataclass(frozen=True)
class ReportRow(CellRow):
    """A cell in the report: its row and its workload's label (name, size or spec hash)."""

    label: str


def threads_of(cell: CellResult) -> str | int | None:
    """The cell's thread settings as the tables name them."""
    return cell.threading.label if cell.threading else cell.environment.threads


def cell_row(cell: CellResult) -> CellRow:
    """One cell as the tables, the report and `--format json` show it."""
    return CellRow(**_identity(cell), **_figures(cell), **_process(cell))


def report_row(cell: CellResult, label: str) -> ReportRow:
    return ReportRow(**_identity(cell), **_figures(cell), **_process(cell), label=label)


def _identity(cell: CellResult) -> dict[str, Any]:
    return {
        "cell_id": cell.id,
        "run_id": cell.run_id,
        "workload": cell.workload,
        "spec_hash": cell.spec_hash,
        "size": _size_of(cell.spec_hash),
        "runtime": cell.runtime,
        "api": cell.api,
        "tier": cell.tier,
        "mode": cell.mode,
        "status": cell.status,
        "reason": cell.reason,
        "parity": parity_verdict(cell),
        "parity_note": "; ".join(parity_notes(cell.parity)) or None,
        "ranked": cell.ranked,
        "parity_checks": tuple(cell.parity),
    }


def _figures(cell: CellResult) -> dict[str, Any]:
    s = cell.summary
    batch = s.latency_at(cell.batch_size) if s and cell.batch_size else None
    single = s.latency_at(1) if s else None
    return {
        "median_ms": s.median_ms if s else None,
        "ci_low_ms": s.ci_low_ms if s else None,
        "ci_high_ms": s.ci_high_ms if s else None,
        "samples_per_s": s.samples_per_s if s else None,
        "samples_per_s_low": s.samples_per_s_low if s else None,
        "samples_per_s_high": s.samples_per_s_high if s else None,
        "ci_95": f"{fmt(s.samples_per_s_low)}-{fmt(s.samples_per_s_high)}" if s else None,
        "blocks": s.blocks if s else None,
        "processes": s.processes if s else None,
        "reruns": cell.reruns,
        "block_cv": s.block_cv if s else None,
        "p50_ms": batch.p50_ms if batch else None,
        "p90_ms": batch.p90_ms if batch else None,
        "p99_ms": batch.p99_ms if batch else None,
        "p50_b1_ms": single.p50_ms if single else None,
        "gflops": s.gflops if s else None,
        "pct_peak": 100 * s.peak_fraction if s and s.peak_fraction is not None else None,
        "p99_b1_ms": single.p99_ms if single else None,
        "warnings": ", ".join(dict.fromkeys(cell.warning_codes)) or None,
        "warning_details": tuple(cell.warnings),
    }


def _process(cell: CellResult) -> dict[str, Any]:
    env, phases = cell.environment, cell.phases
    return {
        "threads": threads_of(cell),
        "threading": cell.threading,
        "peak_steady_rss_mb": cell.memory.peak_rss_mb if cell.memory else None,
        "allocator_peak_mb": cell.memory.allocator_peak_mb if cell.memory else None,
        "import_s": phases.import_s,
        "build_s": phases.build_s,
        "first_call_s": phases.first_call_s,
        "warmup_s": sum(phases.warmup_s) if phases.warmup_s else None,
        "peak_rss_mb": phases.peak_rss_mb,
        "env_name": cell.env_name,
        "framework_version": env.framework_version,
        "python": env.python,
        "git_sha": env.dlarena_git_sha,
    }


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _size_of(spec_hash: str | None) -> str | None:
    from dlarena.spec.loader import size_of  # the spec schema: loaded when a row is made

    return size_of(spec_hash)


STAGE_ORDER = ("peak probe", "reference", "start", "import", "build", "parity", "first_call",
               "warmup", "probe", "timed", "latency", "reruns")  # fmt: skip


def time_spent(cells: list[CellResult], info: RunInfo) -> dict[str, float]:
    """Where a run's wall time went: seconds per stage over every cell (the run's GEMM peak
    probe first), 'host' for the rest of the run's wall time (its own work: planning, the
    store, waiting), and 'wall'."""
    spent: dict[str, float] = {"peak probe": info.config.peak_probe_s}
    for cell in cells:
        for stage, seconds in cell.phases.stages:
            spent[stage] = spent.get(stage, 0.0) + seconds
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    spent = dict(sorted(spent.items(), key=lambda kv: order.get(kv[0], len(order))))
    if info.finished_at and info.started_at:
        # the run is stored once the peak probe has measured the machine: its seconds come first
        wall = info.finished_at - info.started_at + spent["peak probe"]
        spent["host"] = max(0.0, wall - sum(spent.values()))
        spent["wall"] = wall
    return spent


def time_line(spent: dict[str, float]) -> str:
    """'where the time went (wall 312 s): start 40 s (13%), import 55 s (18%), ...'."""
    wall = spent.get("wall") or sum(spent.values())
    parts = [
        f"{stage} {seconds:.0f} s ({seconds / wall:.0%})"
        for stage, seconds in spent.items()
        if stage != "wall" and seconds >= 0.5
    ]
    return f"where the time went (wall {wall:.0f} s): " + ", ".join(parts)


def markdown_cell(value: Any) -> str:
    """A Markdown table cell: no raw HTML from a workload name, no stray column break."""
    return html.escape(fmt(value), quote=False).replace("|", "\\|").replace("\n", " ")
