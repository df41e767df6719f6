"""scale: each framework's data-parallel machinery on 1..N local workers."""

from __future__ import annotations

from typing import Annotated

import typer

from dlarena.cli.common import (
    WORKLOAD_HELP,
    Format,
    FormatOpt,
    SizeOpt,
    app,
    emit_json,
    err,
    print_table,
)
from dlarena.report.rows import fmt
from dlarena.runner import envs


@app.command()
def scale(
    framework: Annotated[
        list[str], typer.Option(help="framework (repeatable; default: every one built)")
    ] = [],
    workers: Annotated[list[int], typer.Option(min=1, help="worker counts (repeatable)")] = [1, 2],
    workload: Annotated[str, typer.Option(help=WORKLOAD_HELP)] = "mlp",
    size: SizeOpt = "small",
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="timed steps per worker")] = 30,
    format: FormatOpt = Format.table,
) -> None:
    """Data-parallel training on 1..N workers of this machine (every address 127.0.0.1), each
    pinned to its own CPUs: samples/s, efficiency against one worker and against N independent
    processes (the machine's ceiling), and whether the replicas ended identical."""
    from dlarena.scale.run import SCENARIOS
    from dlarena.scale.run import scale as run_scale
    from dlarena.spec.loader import load_workload

    spec = load_workload(workload, size)
    rows = []
    for name in framework or list(SCENARIOS):
        with err.status(f"scaling {name}"):
            rows += run_scale(name, spec, workers, envs.dlarena_home(), steps)
    if format == Format.json:
        emit_json(rows)
        return
    print_table(
        f"data-parallel scaling: {spec.name} ({size}), the workload's batch per worker",
        (
            "framework",
            "mechanism",
            "workers",
            "samples/s",
            "steps/s",
            "efficiency",
            "of ceiling",
            "replicas",
        ),
        (
            [
                r["framework"],
                r["mechanism"],
                str(r["workers"]),
                fmt(r["samples_per_s"]),
                fmt(r["steps_per_s"]),
                f"{r['efficiency']:.2f}",
                f"{r['of_ceiling']:.2f}",
                "identical" if r["identical"] else "DIFFER",
            ]
            for r in rows
        ),  # fmt: skip
        caption="efficiency: samples/s over N x one worker's; of ceiling: over N independent "
        "processes training alone on the same CPUs",
    )
