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
        typer.Option(
            help="digits-mlp, digits-cnn (handwritten digits), docs-gpt (a byte-level language "
            "model on Python's language reference); default the two digits tasks"
        ),
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
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="the held-out accuracy to reach (default per task: 0.9 on the digits, 0.38 "
            "for the next byte of the language reference)",
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option(min=1, max=20, help="initial weights and batch orders to train from")
    ] = 1,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Train every framework and tier from the same initial weights through the same order of
    batches of a real dataset (scikit-learn's handwritten digits; Python's language reference),
    evaluating on a held-out split every few steps (outside the timed steps): the steps and
    seconds to the target accuracy, the final accuracy, the seconds per step, and the curves
    (--format json). The records are stored as each run ends."""
    from dlarena.converge.run import TASKS, Plan, check, converge
    from dlarena.runner import envs
    from dlarena.runner.threads import all_cpus

    plan = Plan(steps, eval_every, target, all_cpus())
    chosen = task or [name for name, (data, _) in TASKS.items() if data == "digits"]
    check(chosen, runtime, tier)
    with err.status("converge") as status, contextlib.closing(open_store(store, True)) as db:
        records = converge(
            chosen, runtime, tier, seeds, plan, envs.dlarena_home(), status.update,
            lambda record: db.add_probes("converge", [record], name="cell"),
        )  # fmt: skip
    if format == Format.json:
        emit_json(records)
    else:
        _table(records)
    if any(r["status"] != "reached" for r in records):
        raise typer.Exit(1)


def _table(records: list[dict]) -> None:
    columns = ("task", "target", "runtime", "tier", "seed", "status", "steps to target",
               "s to target", "final accuracy", "ms/step", "first step s")  # fmt: skip
    rows = [
        [r["task"], f"{r['target']:.0%}", r["framework"], r["tier"], str(r["seed"]), r["status"],
         fmt(r.get("steps_to_target")), fmt(r.get("seconds_to_target")),
         fmt(r.get("final_accuracy")), fmt(1000 * r["step_s"] if "step_s" in r else None),
         fmt(r.get("first_step_s")) if r["status"] != "failed" else r["reason"][:80]]
        for r in records
    ]  # fmt: skip
    print_table(
        "training to a target held-out accuracy",
        columns,
        rows,
        caption="s to target: the training steps' own seconds until the first held-out "
        "evaluation at or above the target (the first step's compilation included); ms/step: "
        "the median step after the first",
    )
