"""scale: each framework's data-parallel machinery on 1..N local workers."""

from __future__ import annotations

from typing import Annotated

import typer

from dlarena.cli.common import (
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
    within,
)
from dlarena.errors import DlarenaError
from dlarena.runner import envs


@app.command()
def scale(
    framework: Annotated[
        list[str], typer.Option(help="framework (repeatable; default: all four)")
    ] = [],
    workers: Annotated[list[int], typer.Option(min=1, help="worker counts (repeatable)")] = [1, 2],
    workload: Annotated[str, typer.Option(help=WORKLOAD_HELP)] = "mlp",
    size: SizeOpt = "small",
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="timed steps per worker")] = 200,
    timeout: Annotated[
        float,
        typer.Option(help="seconds before a group of workers is stopped", callback=within(30)),
    ] = 300.0,
    device: Annotated[
        str, typer.Option(help="cpu, or gpu (one GPU per worker: torch's nccl)")
    ] = "cpu",
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Data-parallel training on 1..N workers of this machine (every address 127.0.0.1), each
    pinned to its own CPUs: samples/s, efficiency against one worker and against N independent
    processes (the machine's ceiling), and whether the replicas ended identical. Stored: the
    report draws the scaling chart from it."""
    from dlarena.codec import encode
    from dlarena.report.tables import SCALING_NOTE, scaling_table
    from dlarena.scale.run import SCENARIOS, records
    from dlarena.spec.loader import load_workload

    if device not in ("cpu", "gpu"):
        raise DlarenaError(f"unknown device '{device}'; choose cpu or gpu")
    unknown = sorted(set(framework) - set(SCENARIOS))
    if unknown:
        raise DlarenaError(
            f"no scaling scenario for {', '.join(unknown)}; choose {', '.join(SCENARIOS)}"
        )
    names = list(framework) or [n for n, s in SCENARIOS.items() if device == "cpu" or s.gpu]
    cpu_only = [n for n in names if device == "gpu" and not SCENARIOS[n].gpu]
    if cpu_only:
        raise DlarenaError(
            f"no GPU scaling scenario for {', '.join(cpu_only)}; on GPUs: "
            + ", ".join(n for n, s in SCENARIOS.items() if s.gpu)
        )
    spec = load_workload(workload, size)
    rows = []
    for name in names:
        with err.status(f"scaling {name} on {', '.join(map(str, sorted(set(workers))))} workers"):
            rows += records(
                name, spec, size, workers, envs.dlarena_home(), steps, timeout, device=device
            )
    db = open_store(store, create=True)
    db.add_probes("scale", rows, name="workers", tier="workload")
    db.close()
    if format == Format.json:
        emit_json(encode(rows))
        return
    columns, table = scaling_table(rows)
    print_table(
        "data-parallel scaling, the workload's batch per worker", columns, table, SCALING_NOTE
    )
