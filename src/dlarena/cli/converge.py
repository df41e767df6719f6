"""converge: train each framework to a target accuracy on real data."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from dlarena.cli.common import (
    Format,
    FormatOpt,
    StoreOpt,
    app,
    emit_json,
    err,
    open_store,
    print_table,
)
from dlarena.frameworks import TIERS
from dlarena.report.rows import fmt

TRAINING_RUNTIMES = ["torch", "tensorflow", "jax", "mxnet"]


@app.command()
def converge(
    task: Annotated[
        list[str],
        typer.Option(help="digits-mlp and/or digits-cnn (default both): a spec and real data"),
    ] = [],
    runtime: Annotated[
        list[str], typer.Option(help="runtimes to train (default the four frameworks)")
    ] = TRAINING_RUNTIMES,
    tier: Annotated[list[str], typer.Option(help="eager and/or compiled (default both)")] = list(
        TIERS
    ),
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="training steps")] = 300,
    eval_every: Annotated[
        int, typer.Option(min=1, help="evaluate on the held-out split every this many steps")
    ] = 25,
    target: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="the held-out accuracy to reach")
    ] = 0.9,
    seeds: Annotated[
        int, typer.Option(min=1, max=20, help="initial weights and batch orders to train from")
    ] = 1,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Train every framework and tier from the same initial weights through the same order of
    batches of a real dataset (scikit-learn's handwritten digits), evaluating on a held-out
    split every few steps (outside the timed steps): the steps and seconds to the target
    accuracy, the final accuracy, the seconds per step, and the curves (--format json). The
    records are stored."""
    from dlarena.converge.run import TASKS, Plan, check, converge
    from dlarena.runner import envs
    from dlarena.runner.threads import all_cpus

    plan = Plan(steps, eval_every, target, all_cpus())
    chosen = task or list(TASKS)
    check(chosen, runtime, tier)
    with err.status("converge") as status, contextlib.closing(open_store(store, True)) as db:
        records = converge(
            chosen, runtime, tier, seeds, plan, envs.dlarena_home(), status.update,
            lambda record: db.add_probes("converge", [record], name="cell"),
        )  # fmt: skip
    if format == Format.json:
        emit_json(records)
    else:
        _table(records, target)
    if any(r["status"] != "reached" for r in records):
        raise typer.Exit(1)


def _table(records: list[dict], target: float) -> None:
    columns = ("task", "runtime", "tier", "seed", "status", "steps to target", "s to target",
               "final accuracy", "ms/step", "first step s")  # fmt: skip
    print_table(
        f"training to {target:.0%} held-out accuracy",
        columns,
        (
            [
                r["task"],
                r["framework"],
                r["tier"],
                str(r["seed"]),
                r["status"],
                fmt(r.get("steps_to_target")),
                fmt(r.get("seconds_to_target")),
                fmt(r.get("final_accuracy")),
                fmt(1000 * r["step_s"] if "step_s" in r else None),
                fmt(r.get("first_step_s")) if r["status"] != "failed" else r["reason"][:80],
            ]
            for r in records
        ),  # fmt: skip
        caption="s to target: the training steps' own seconds until the first held-out "
        "evaluation at or above the target (the first step's compilation included); ms/step: "
        "the median step after the first",
    )
