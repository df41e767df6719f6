"""Training to a target, host side: a task is a spec and a real dataset; each (task, runtime,
tier, seed) trains in a fresh worker process of its framework's environment, alone, one after
another, from the same initial weights through the same order of batches."""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dlarena.codec import decode
from dlarena.converge import envelope
from dlarena.converge.records import ConvergeRecord, ConvergeRun, ConvergeTask, Trajectory
from dlarena.data import DATASETS, Dataset, batch_order
from dlarena.errors import DlarenaError
from dlarena.frameworks import RUNTIMES, TIERS
from dlarena.probes.host import ProbeFailed, run_worker
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights

# task -> the dataset its spec (converge/tasks/TASK.yaml) trains on, and its default target:
# held-out accuracy (for the language model, of the next byte at every position)
TASKS = {"digits-mlp": ("digits", 0.9), "digits-cnn": ("digits", 0.9),
         "docs-gpt": ("python-docs", 0.38)}  # fmt: skip
TIMEOUT_S = 900.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """What every cell of one `converge` call shares."""

    steps: int
    eval_every: int
    target: float | None  # held-out accuracy; None: each task's own
    threads: int
    precision: str = "fp32"  # the compute (mixed precision: bf16 over float32 parameters)


def load_task(name: str) -> tuple[Workload, Dataset]:
    """The task's spec and its dataset, shaped for the spec's input. The held-out evaluation
    runs each framework's inference on the model being trained: batch norm from its running
    statistics, no dropout."""
    from dlarena.spec.schema import parse_spec
    from dlarena.validation import parse_text

    text = resources.files("dlarena.converge").joinpath(f"tasks/{name}.yaml").read_text()
    workload = parse_spec(parse_text(text, f"task {name}"))
    data = DATASETS[TASKS[name][0]]()
    shape = (-1, *workload.input_shape)
    data = dataclasses.replace(
        data, x_train=data.x_train.reshape(shape), x_test=data.x_test.reshape(shape)
    )
    return workload, data


def write_data(workload: Workload, data: Dataset, plan: Plan, seed: int, path: Path) -> None:
    """The initial weights, both splits and the order of batches one seed trains through."""
    seeded = dataclasses.replace(workload, seed=workload.seed + seed)
    weights = canonical_weights(seeded)
    order = batch_order(len(data.x_train), workload.batch_size, plan.steps, seed)
    arrays: dict[str, Any] = {f"weights:{k}": v for k, v in weights.items()}
    arrays |= {"x_train": data.x_train, "y_train": data.y_train, "x_test": data.x_test,
               "y_test": data.y_test, "order": order}  # fmt: skip
    np.savez(path, **arrays)


def target_of(task: str, plan: Plan) -> float:
    return TASKS[task][1] if plan.target is None else plan.target


def summarize(head: ConvergeRecord, found: ConvergeRun) -> ConvergeRecord:
    """The run's record: steps and seconds to the target (the first evaluation at or above
    it), the final accuracy and the seconds per step (median; the first step, with any
    compilation, apart), and the run's curve and losses."""
    curve, step_s = found.curve, found.step_s
    reached = next((point for point in curve if point.accuracy >= head.target), None)
    return dataclasses.replace(
        head,
        status="reached" if reached else "missed",
        steps_to_target=reached.step if reached else None,
        seconds_to_target=reached.seconds if reached else None,
        final_accuracy=curve[-1].accuracy,
        final_loss=curve[-1].loss,
        first_step_s=step_s[0],
        step_s=statistics.median(step_s[1:] or step_s),
        framework_version=found.framework_version,
        curve=curve,
        losses=found.losses,  # each step's training loss
        envelope_held_out=found.envelope_held_out,
    )


def cell(
    task: str, runtime: str, tier: str, seed: int, workload: Workload, data: Path, plan: Plan,
    home: Path, ref: Trajectory,
) -> ConvergeRecord:  # fmt: skip
    """One training run in a fresh worker: its record, with where it sits in the envelope
    around the float64 run `ref` (failed, with the reason, if it could not run)."""
    named = task if plan.precision == "fp32" else f"{task}-{plan.precision}"  # apart from fp32
    head = ConvergeRecord(
        framework=runtime, task=named, tier=tier, seed=seed, cell=f"{named} seed {seed}",
        target=target_of(task, plan), status="failed",
    )  # fmt: skip
    job = ConvergeTask(
        RUNTIMES[runtime].module, workload.to_dict(), tier, str(data), plan.eval_every,
        envelope.held_out_step(workload, plan.steps), plan.threads,
    )  # fmt: skip
    try:
        line = run_worker(runtime, "dlarena.converge.worker", job, home, plan.threads, TIMEOUT_S)
    except ProbeFailed as exc:
        return dataclasses.replace(head, reason=str(exc))
    found = decode(ConvergeRun, line)
    placed = envelope.check(workload, found, ref)
    return dataclasses.replace(summarize(head, found), envelope=placed)


def check(tasks: list[str], runtimes: list[str], tiers: list[str]) -> None:
    """Unknown tasks and tiers, and runtimes that do not train, are named before anything
    runs."""
    for tier in tiers:
        if tier not in TIERS:
            raise DlarenaError(f"unknown tier '{tier}'; choose from {', '.join(TIERS)}")
    for task in tasks:
        if task not in TASKS:
            raise DlarenaError(f"unknown task '{task}'; choose from {', '.join(TASKS)}")
    for runtime in runtimes:
        if runtime not in RUNTIMES or "train" not in RUNTIMES[runtime].modes:
            trains = [n for n, r in RUNTIMES.items() if "train" in r.modes]
            raise DlarenaError(f"'{runtime}' does not train; choose from {', '.join(trains)}")


def converge(
    tasks: list[str],
    runtimes: list[str],
    tiers: list[str],
    seeds: int,
    plan: Plan,
    home: Path,
    on_progress: Callable[[str], None],
    on_record: Callable[[ConvergeRecord], None],
) -> list[ConvergeRecord]:
    """Every task, runtime, tier and seed; one record each, passed on as it comes (an
    interrupted call keeps what was trained)."""
    check(tasks, runtimes, tiers)
    records = []
    with tempfile.TemporaryDirectory(prefix="dlarena-converge-") as folder:
        for task in tasks:
            workload, data = load_task(task)
            workload = workload.at_precision(plan.precision)
            for seed in range(seeds):
                path = Path(folder) / f"{task}-{seed}.npz"
                write_data(workload, data, plan, seed, path)
                on_progress(f"converge: {task} seed {seed}, the float64 reference")
                ref = envelope.reference_run(workload, path, plan.eval_every)
                for runtime in runtimes:
                    for tier in tiers:
                        on_progress(f"converge: {task} seed {seed}, {runtime} {tier}")
                        found = cell(task, runtime, tier, seed, workload, path, plan, home, ref)
                        records.append(found)
                        on_record(found)
    return records
