"""probe: the deployment and debuggability probes (measured, where the comparison has stars)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dlarena.cli.common import (
    BUILTIN,
    WORKLOAD_HELP,
    Format,
    FormatOpt,
    SizeOpt,
    StoreOpt,
    app,
    emit_json,
    err,
    open_store,
    print_table,
    sub_app,
)
from dlarena.codec import encode
from dlarena.errors import DlarenaError
from dlarena.frameworks import having
from dlarena.probes.records import DebugRecord, DeployRecord
from dlarena.report.rows import fmt
from dlarena.runner import envs

probe_app = sub_app("Probes: deployment paths and debuggability, measured.", False)
app.add_typer(probe_app, name="probe")

FrameworkOpt = Annotated[
    list[str], typer.Option("--framework", help="framework to probe (repeatable; default all)")
]


@probe_app.command("debug")
def debug(
    framework: FrameworkOpt = [], store: StoreOpt = None, format: FormatOpt = Format.table
) -> None:
    """Make the mistakes people make (a shape mismatch, a dtype mix, a NaN in the forward pass,
    and the NaN again under the framework's NaN-checking mode) in each framework and tier, and
    record how each framework tells them. The records are stored: the learning criterion and
    the report read them."""
    from dlarena.probes.debug import probe_all
    from dlarena.report.tables import debug_matrix
    from dlarena.runner.threads import all_cpus

    chosen = _frameworks(framework, "mistakes")
    with err.status("debug probes") as status:
        records = probe_all(chosen, envs.dlarena_home(), all_cpus(), status.update)
    db = open_store(store, create=True)
    db.add_probes("debug", records)
    db.close()
    if format == Format.json:
        emit_json(encode(records))
        return
    print_table(
        "debuggability: each mistake, how the framework reports it",
        (
            "framework",
            "probe",
            "tier",
            "status",
            "caught at",
            "message",
            "names it",
            "points to line",
        ),
        (
            [
                r.framework,
                r.probe if r.probe != "nan_check" else f"nan_check ({r.nan_mode or 'none'})",
                r.tier,
                r.status,
                r.when if r.status != "skipped" else "-",
                f"{r.message_length} chars"
                if r.message_length is not None
                else (r.result or r.reason or "-")[:60],
                _names(r),
                (r.points_to or "no") if r.caught else "-",
            ]
            for r in records
        ),  # fmt: skip
        caption="names it: the message names both mismatched sizes (shape) or both dtypes "
        "(dtype); points to line: the traceback's last user frame, or the message, is the "
        "faulty line",
    )
    print_matrix("debuggability matrix", debug_matrix(records))


def _names(record: DebugRecord) -> str:
    if not record.caught or record.names_it is None:
        return "-"
    return "yes" if record.names_it else "no"


WorkloadOpt = Annotated[list[str], typer.Option(help=WORKLOAD_HELP)]
QuickOpt = Annotated[
    bool,
    typer.Option(
        help="one path per way out (portable, serving, devices) and framework, the first "
        "whose exporter is installed"
    ),
]


@probe_app.command("deploy")
def deploy(
    framework: FrameworkOpt = [],
    workload: WorkloadOpt = list(BUILTIN),
    size: SizeOpt = "tiny",
    quick: QuickOpt = False,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Every way a model leaves each framework (ONNX, serving formats, LiteRT), each in its own
    worker process: export time, artifact size, load time, the artifact's latency and its max
    abs difference from the framework's own output (a path that computes something else fails).
    The records are stored: the maturity criterion and the report read them."""
    from dlarena.probes.deploy import probe_all
    from dlarena.report.tables import deploy_matrix
    from dlarena.runner.threads import all_cpus
    from dlarena.spec.loader import load_workload

    chosen = _frameworks(framework, "exports")
    specs = [load_workload(w, size if w in BUILTIN else "small") for w in workload]
    with err.status("deployment probes") as status:
        records = probe_all(chosen, specs, envs.dlarena_home(), all_cpus(), status.update, quick)
    db = open_store(store, create=True)
    db.add_probes("deploy", records, name="path", tier="workload")
    db.close()
    if format == Format.json:
        emit_json(encode(records))
        return
    _deploy_table(records)
    print_matrix("deployment matrix", deploy_matrix(records))


DEPLOY_COLUMNS = ("framework", "path", "workload", "status", "max abs diff", "export s",
                  "size KB", "load s", "latency ms", "note")  # fmt: skip


def _deploy_table(records: list[DeployRecord]) -> None:
    print_table(
        "deployment: each export path, run and checked against the framework's own output",
        DEPLOY_COLUMNS,
        (
            [
                r.framework,
                r.path,
                r.workload,
                r.status,
                fmt(r.max_abs_diff),
                fmt(r.export_first_s),
                fmt((r.artifact_bytes or 0) / 1024 or None),
                fmt(r.load_s),
                fmt(r.latency_ms),
                _deploy_note(r)[:90],
            ]
            for r in records
        ),  # fmt: skip
        caption="works: the artifact computes what the framework does (max abs diff within "
        "1e-4 of the largest output; an int8 path within 0.1, its distance said); deprecated: "
        "it works on a path its framework deprecates",
    )


def _deploy_note(record: DeployRecord) -> str:
    if record.quantized and record.relative_diff is not None:
        off = f"int8: {record.relative_diff:.1%} of the largest output off float32"
        return "; ".join(filter(None, (off, record.note, record.said)))
    return record.said


def print_matrix(title: str, matrix: tuple[tuple[str, ...], list[list[Any]]]) -> None:
    """A probe matrix the report shows (without its links)."""
    columns, rows = matrix
    print_table(title, columns, ([row[0], *(text for text, _ in row[1:])] for row in rows))


def _frameworks(asked: list[str], part: str) -> list[str]:
    """The frameworks asked for (all by default) whose folder has the probe's `part`."""
    known = having(part)
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise DlarenaError(f"unknown framework {', '.join(unknown)}; choose {', '.join(known)}")
    return list(asked or known)
