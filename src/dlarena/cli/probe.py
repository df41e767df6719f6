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
from dlarena.errors import DlarenaError
from dlarena.frameworks import having
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
    from dlarena.runner.threads import all_cpus

    chosen = _frameworks(framework, "mistakes")
    with err.status("debug probes") as status:
        records = probe_all(chosen, envs.dlarena_home(), all_cpus(), status.update)
    db = open_store(store, create=True)
    db.add_probes("debug", records)
    db.close()
    if format == Format.json:
        emit_json(records)
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
                r["framework"],
                r["probe"]
                if r["probe"] != "nan_check"
                else f"nan_check ({r['nan_mode'] or 'none'})",
                r["tier"],
                r["status"],
                r.get("when", "-"),
                f"{r['message_length']} chars"
                if "message_length" in r
                else (r.get("result") or r.get("reason", "-"))[:60],
                _names(r),
                _line(r),
            ]
            for r in records
        ),  # fmt: skip
        caption="names it: the message names both mismatched sizes (shape) or both dtypes "
        "(dtype); points to line: the traceback's last user frame, or the message, is the "
        "faulty line",
    )
    print_matrix("debug", records)


def _names(record: dict) -> str:
    if not record.get("caught"):
        return "-"
    if record["probe"] == "shape":
        return "yes" if record["names_shapes"] else "no"
    if record["probe"] == "dtype":
        return "yes" if record["names_dtypes"] else "no"
    return "-"


def _line(record: dict) -> str:
    if not record.get("caught"):
        return "-"
    if record["faulty_line"]:
        return "traceback"
    return "message" if record["message_names_line"] else "no"


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
        emit_json(records)
        return
    print_table(
        "deployment: each export path, run and checked against the framework's own output",
        (
            "framework",
            "path",
            "workload",
            "status",
            "max abs diff",
            "export s",
            "size KB",
            "load s",
            "latency ms",
            "note",
        ),
        (
            [
                r["framework"],
                r["path"],
                r["workload"],
                r["status"],
                fmt(r.get("max_abs_diff")),
                fmt(r.get("export_first_s")),
                fmt((r.get("artifact_bytes") or 0) / 1024 or None),
                fmt(r.get("load_s")),
                fmt(r.get("latency_ms")),
                _deploy_note(r)[:90],
            ]
            for r in records
        ),  # fmt: skip
        caption="works: the artifact computes what the framework does (max abs diff within "
        "1e-4 of the largest output; an int8 path within 0.1, its distance said); deprecated: "
        "it works on a path its framework deprecates",
    )
    print_matrix("deploy", records)


def _deploy_note(record: dict[str, Any]) -> str:
    said = record.get("error") or record.get("deprecated") or record.get("reason") or ""
    if record.get("quantized") and record.get("relative_diff") is not None:
        off = f"int8: {record['relative_diff']:.1%} of the largest output off float32"
        said = "; ".join(filter(None, (off, record.get("note"), said)))
    return said


def print_matrix(kind: str, records: list[dict[str, Any]]) -> None:
    """The probe matrix the report shows (without its links)."""
    from dlarena.report.tables import debug_matrix, deploy_matrix

    matrix = deploy_matrix if kind == "deploy" else debug_matrix
    columns, rows = matrix(tuple(records))
    title = "deployment matrix" if kind == "deploy" else "debuggability matrix"
    print_table(title, columns, ([row[0], *(text for text, _ in row[1:])] for row in rows))


def _frameworks(asked: list[str], part: str) -> list[str]:
    """The frameworks asked for (all by default) whose folder has the probe's `part`."""
    known = having(part)
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise DlarenaError(f"unknown framework {', '.join(unknown)}; choose {', '.join(known)}")
    return list(asked or known)
