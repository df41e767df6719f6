"""bench's options: what each one does, declared once (cli/bench.py reads them)."""

from __future__ import annotations

from typing import Annotated

import typer

from dlarena.cli.common import WORKLOAD_HELP, within

# The work a team chooses a framework for: tabular, vision, and (quick) attention.
DEFAULT_WORKLOADS = ("mlp", "cnn")
QUICK_WORKLOADS = ("mlp", "cnn", "transformer")
QUICK_TIERS = ["compiled"]  # what the performance criterion reads unless a profile says otherwise

WorkloadOpt = Annotated[
    list[str],
    typer.Option(
        help=f"{WORKLOAD_HELP} (default: {', '.join(DEFAULT_WORKLOADS)}; with --quick: "
        f"{', '.join(QUICK_WORKLOADS)})"
    ),
]
RuntimeOpt = Annotated[
    list[str],
    typer.Option(help="runtimes to run; add tensorflow-raw or jax-raw for the raw-op APIs"),
]
TierOpt = Annotated[
    list[str],
    typer.Option(
        help="eager and/or compiled (default both; with --quick: compiled, the tier the "
        "decision reads)"
    ),
]
ModeOpt = Annotated[list[str], typer.Option(help="train and/or infer")]
QuickOpt = Annotated[
    bool,
    typer.Option(
        help="the quick profile: one worker process per cell, fewer blocks; by default the "
        "mlp, cnn and transformer in the compiled tier"
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(min=1, help="CPU budget per worker (default: every CPU allowed)"),
]
ThreadingOpt = Annotated[
    str, typer.Option(help="fair: one thread count for all; tuned: each framework's best")
]
MallocOpt = Annotated[
    str,
    typer.Option(
        help="keep: freed memory stays with each worker (steady figures); system: the C "
        "library's defaults, as a plain script runs"
    ),
]
ProcessesOpt = Annotated[
    int | None,
    typer.Option(min=1, max=100, help="worker processes per cell (default 3, quick 1)"),
]
SlowRerunsOpt = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=10,
        help="run a process measured in one of the machine's slow stretches (its GEMM "
        "probe under 85% of the run's best) again up to this many times (default 2; 0: "
        "keep every process as measured, flagged machine_slow)",
    ),
]
IsolationOpt = Annotated[
    str | None,
    typer.Option(
        help="paired: the cells compared (one workload and mode, every runtime and tier) run "
        "as live workers side by side and take turns timing blocks, so drift of the machine "
        "hits them all alike; process: each cell's processes alone, one after another "
        "(default: paired here, process on a Dask cluster)"
    ),
]
WaitQuietOpt = Annotated[
    bool, typer.Option(help="before each worker, wait (up to 5 min) for quiet CPUs")
]
TimeoutOpt = Annotated[
    float, typer.Option(callback=within(1, 86400), help="seconds before a worker is killed")
]
DeviceOpt = Annotated[str, typer.Option(help="cpu, or gpu (CUDA) for every framework")]
EnvOpt = Annotated[list[str], typer.Option(help="RUNTIME=ENV, e.g. torch=torch-old")]
ResumeOpt = Annotated[
    str | None,
    typer.Option(
        metavar="RUN",
        help="run only the missing cells of an interrupted run (its id, or 'last'), "
        "with its original settings",
    ),
]
ExecutorOpt = Annotated[
    str, typer.Option(help="local (this machine), or dask (a Dask cluster: --scheduler)")
]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="the Dask scheduler, tcp://HOST:PORT (--executor dask)")
]
