"""converge: train each framework to a target accuracy on real data."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

from dlarena.cli.common import (
    Format,
    FormatOpt,
    StoreOpt,
    app,
    check_precision,
    emit_json,
    err,
    open_store,
    print_table,
)
from dlarena.frameworks import DEFAULT_RUNTIMES, RUNTIMES, TIERS

if TYPE_CHECKING:
    from dlarena.converge.records import ConvergeRecord

TRAINING_RUNTIMES = [name for name in DEFAULT_RUNTIMES if "train" in RUNTIMES[name].modes]


TaskOpt = Annotated[
    list[str],
    typer.Option(
        help="digits-mlp, digits-cnn (handwritten digits), docs-gpt (a byte-level language "
        "model on Python's language reference); default the two digits tasks"
    ),
]
RuntimeOpt = Annotated[
    list[str], typer.Option(help="runtimes to train (default the four frameworks)")
]
TierOpt = Annotated[list[str], typer.Option(help="eager and/or compiled (default both)")]
StepsOpt = Annotated[int, typer.Option(min=1, max=100_000, help="training steps")]
EvalEveryOpt = Annotated[
    int, typer.Option(min=1, help="evaluate on the held-out split every this many steps")
]
TargetOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        help="the held-out accuracy to reach (default per task: 0.9 on the digits, 0.38 "
        "for the next byte of the language reference)",
    ),
]
SeedsOpt = Annotated[
    int, typer.Option(min=1, max=20, help="initial weights and batch orders to train from")
]
TrainPrecisionOpt = Annotated[
    str,
    typer.Option(help="fp32, or bf16: mixed precision over float32 parameters (task-bf16)"),
]


@app.command()
def converge(
    task: TaskOpt = [],
    runtime: RuntimeOpt = TRAINING_RUNTIMES,
    tier: TierOpt = list(TIERS),
    steps: StepsOpt = 300,
    eval_every: EvalEveryOpt = 25,
    target: TargetOpt = None,
    seeds: SeedsOpt = 1,
    precision: TrainPrecisionOpt = "fp32",
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Train every framework and tier from the same initial weights through the same order of
    batches of a real dataset (scikit-learn's handwritten digits; Python's language reference),
    evaluating on a held-out split every few steps (outside the timed steps): the steps and
    seconds to the target accuracy, the final accuracy, the seconds per step, and the curves
    (--format json); over the first 20 steps, each run's training and held-out losses must stay
    inside an envelope around the float64 run of the same steps (exit 1 otherwise, as for a
    target missed). The records are stored as each run ends."""
    from dlarena.codec import encode
    from dlarena.converge.run import TASKS, Plan, check, converge
    from dlarena.runner import envs
    from dlarena.runner.threads import all_cpus

    plan = Plan(steps, eval_every, target, all_cpus(), check_precision(precision))
    chosen = task or [name for name, (data, _) in TASKS.items() if data == "digits"]
    check(chosen, runtime, tier)
    with err.status("converge") as status, contextlib.closing(open_store(store, True)) as db:
        records = converge(
            chosen, runtime, tier, seeds, plan, envs.dlarena_home(), status.update,
            lambda record: db.add_probes("converge", [record], name="cell"),
        )  # fmt: skip
    if format == Format.json:
        emit_json(encode(records))
    else:
        _table(records)
    if not all(r.passed for r in records):
        raise typer.Exit(1)


def _table(records: list[ConvergeRecord]) -> None:
    from dlarena.report.tables import CONVERGE_NOTE, converge_summary, converge_table

    print_table("training to a target held-out accuracy", *converge_table(records), CONVERGE_NOTE)
    if len({r.seed for r in records}) > 1:
        print_table("over the seeds", *converge_summary(records))
