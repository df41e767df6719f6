"""parity: prove specs on every runtime now (no benchmark), or show a stored run's parity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from dlarena.cli.common import (
    WORKLOAD_HELP,
    Format,
    FormatOpt,
    PrecisionOpt,
    RunOpt,
    StoreOpt,
    app,
    at_precisions,
    emit_json,
    err,
    open_store,
    parse_pairs,
    print_table,
    run_id_of,
    within,
)
from dlarena.errors import DlarenaError
from dlarena.frameworks import MODES, RUNTIMES, TIERS
from dlarena.report.rows import parity_notes
from dlarena.spec.presets import SIZES

if TYPE_CHECKING:
    from dlarena.checker_records import ParityVerdict
    from dlarena.records import ParityCheck

PARITY_CHECKS = ("forward", "loss", "grads", "params", "original")
COLUMNS = ("workload", "size", "runtime", "tier", "mode", *PARITY_CHECKS, "verdict")
CAPTION = (
    "each check: the max relative difference from the float64 reference / its tolerance "
    "(derived per workload from float32 rounding, and from bfloat16's for a -bf16 workload); "
    "'original': an imported model's logits against ONNX Runtime running its original file; "
    "'!' marks a check over its tolerance"
)


def check_cells(checks: Sequence[ParityCheck]) -> list[str]:
    """One table cell per check: the difference over its tolerance, '!' where it failed."""
    found = {c.check: c for c in checks}
    return [
        f"{found[c].max_rel:.1e} / {found[c].tolerance:.0e}{'' if found[c].passed else ' !'}"
        if c in found
        else "-"
        for c in PARITY_CHECKS
    ]


@app.command()
def parity(
    spec: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"check these now, on every runtime and tier, timing nothing: {WORKLOAD_HELP}"
        ),
    ] = None,
    runtime: Annotated[list[str], typer.Option(help="with SPEC: runtimes to check")] = list(
        RUNTIMES
    ),
    tier: Annotated[list[str], typer.Option(help="with SPEC: eager and/or compiled")] = list(TIERS),
    mode: Annotated[list[str], typer.Option(help="with SPEC: train and/or infer")] = list(MODES),
    precision: PrecisionOpt = ["fp32"],
    env: Annotated[list[str], typer.Option(help="with SPEC: RUNTIME=ENV")] = [],
    timeout: Annotated[
        float, typer.Option(callback=within(1, 86400), help="seconds one check may take")
    ] = 600.0,
    run: RunOpt = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="built-in workloads' size: tiny, small or full (without SPEC: only the stored "
            "cells of that size)"
        ),
    ] = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Parity with the float64 reference. With SPEC: build each spec in every runtime, tier and
    mode now, in one checker process per runtime (seconds, nothing stored; exit 1 if any
    fails). Without: the differences a stored run's cells measured."""
    if size is not None and size not in SIZES:
        raise DlarenaError(f"size '{size}' is unknown; choose {', '.join(SIZES)}")
    if spec:
        if run is not None or store is not None:
            raise DlarenaError("--run and --store read a stored run; leave them out with SPEC")
        _check_now(spec, runtime, tier, mode, precision, env, timeout, size or "small", format)
    else:
        _stored(run, size, store, format)


def _check_now(
    specs: list[str],
    runtimes: list[str],
    tiers: list[str],
    modes: list[str],
    precisions: list[str],
    env: list[str],
    timeout: float,
    size: str,
    format: Format,
) -> None:
    from dlarena.runner import envs
    from dlarena.runner.checker import check_parity
    from dlarena.runner.matrix import plan
    from dlarena.spec.loader import BUILTIN, load_workload

    workloads = [load_workload(s, size if s in BUILTIN else "small") for s in specs]
    workloads = at_precisions(workloads, precisions)
    cells = plan(workloads, runtimes, tiers, modes)
    home = envs.dlarena_home()
    overrides = parse_pairs(env, "--env", RUNTIMES)
    for name in overrides.values():
        envs.get(name, home)  # an unknown environment is an input error, before any check

    def on_verdict(verdict: ParityVerdict) -> None:
        mark = "[green]ok[/]" if verdict.passed else "[red]FAILED[/]"
        err.print(f"{mark} {verdict.label}" + (f": {verdict.reason}" if verdict.reason else ""))

    verdicts = check_parity(cells, home, overrides, timeout, on_verdict)
    _show_verdicts(verdicts, format)
    if not all(v.passed for v in verdicts):
        raise typer.Exit(1)


def _verdict(verdict: ParityVerdict) -> str:
    """pass or FAIL with the reason, and how any check was made otherwise (its note)."""
    said = "pass" if verdict.passed else f"FAIL {verdict.reason or ''}".strip()
    return "; ".join([said, *parity_notes(verdict.checks)])


def _show_verdicts(verdicts: list[ParityVerdict], format: Format) -> None:
    from dlarena.codec import encode
    from dlarena.spec.loader import size_of

    if format == Format.json:
        emit_json({"verdicts": [{**encode(v), "passed": v.passed} for v in verdicts]})
        return
    print_table(
        f"parity now: {sum(v.passed for v in verdicts)} of {len(verdicts)} passed",
        COLUMNS,
        (
            [
                v.workload,
                size_of(v.spec_hash) or "spec file",
                v.runtime,
                v.tier,
                v.mode,
                *check_cells(v.checks),
                _verdict(v),
            ]
            for v in verdicts
        ),  # fmt: skip
        caption=CAPTION,
    )


def _stored(run: str | None, size: str | None, store: StoreOpt, format: Format) -> None:
    from dlarena.report.rows import cell_row

    db = open_store(store)
    run_id = run_id_of(db, run)
    rows = [(c, cell_row(c)) for c in db.cells(run_id)]
    if size is not None:
        rows = [(c, row) for c, row in rows if row.size == size]
        if not rows:
            raise DlarenaError(
                f"run {run_id} has no built-in workload at size {size}; measure them with: "
                f"dlarena bench --size {size}"
            )
    if format == Format.json:
        keys = ("workload", "size", "spec_hash", "runtime", "tier", "mode", "parity")
        found = [row.as_dict() for _, row in rows]
        cells = [{k: d[k] for k in (*keys, "parity_checks")} for d in found]
        emit_json({"run_id": run_id, "cells": cells})
        return
    print_table(
        f"parity, run {run_id}: max relative difference from the float64 reference",
        COLUMNS,
        (
            [
                c.workload,
                row.size or "spec file",
                c.runtime,
                c.tier,
                c.mode,
                *check_cells(c.parity),
                row.parity,
            ]
            for c, row in rows
        ),  # fmt: skip
        caption=CAPTION,
    )
