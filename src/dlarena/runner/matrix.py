"""The benchmark matrix: workloads x runtimes x tiers x modes, one worker per cell, in turn."""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlarena.errors import DlarenaError, FrameworkUnavailable
from dlarena.frameworks import MODES, RUNTIMES, TIERS
from dlarena.measure.parity import PARITY_STEPS
from dlarena.measure.stats import summarize
from dlarena.records import PROTOCOL_VERSION, CellResult, WorkerTask
from dlarena.runner import envs
from dlarena.runner.launcher import SRC_DIR, launch
from dlarena.spec import reference
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch
from dlarena.store import Store


@dataclasses.dataclass(frozen=True)
class Cell:
    workload: Workload
    runtime: str
    tier: str
    mode: str

    @property
    def label(self) -> str:
        return f"{self.workload.name}/{self.runtime}/{self.tier}/{self.mode}"


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How each cell is measured; the same for every framework."""

    threads: int = os.cpu_count() or 1
    warmup: int = 3
    repeats: int = 5
    min_repeat_s: float = 0.3
    timeout_s: float = 900.0
    device: str = "cpu"


QUICK: dict[str, Any] = {"warmup": 2, "repeats": 3, "min_repeat_s": 0.15}


def plan(
    workloads: list[Workload], runtimes: list[str], tiers: list[str], modes: list[str]
) -> list[Cell]:
    """Every cell that exists: ONNX Runtime has no training, for example."""
    for name, known, kind in (
        (runtimes, RUNTIMES, "runtime"),
        (tiers, TIERS, "tier"),
        (modes, MODES, "mode"),
    ):
        for value in name:
            if value not in known:
                raise DlarenaError(f"unknown {kind} '{value}'; choose from {', '.join(known)}")
    return [
        Cell(w, r, t, m)
        for w, r, t, m in itertools.product(workloads, runtimes, tiers, modes)
        if m in RUNTIMES[r].modes
    ]


def write_reference(workload: Workload, path: Path) -> None:
    """Canonical weights, one batch, and the float64 expectations the parity gate uses."""
    weights = canonical_weights(workload)
    x, y = synthetic_batch(workload)
    logits, _ = reference.forward(
        workload, {k: v.astype(np.float64) for k, v in weights.items()}, x, training=False
    )
    trace = reference.train_trace(workload, weights, x, y, PARITY_STEPS)
    arrays = {
        "format_version": np.array(PROTOCOL_VERSION),
        "x": x,
        "y": y,
        "logits": logits,
        "losses": trace["losses"],
    }
    arrays.update({f"weights:{k}": v for k, v in weights.items()})
    arrays.update({f"grads:{k}": v for k, v in trace["grads"].items()})
    arrays.update({f"params:{k}": v for k, v in trace["params"].items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def git_sha() -> str | None:
    proc = subprocess.run(
        ["git", "-C", SRC_DIR, "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or None


OnCell = Callable[[Cell, CellResult], None]
OnPhase = Callable[[Cell, str], None]


def run_matrix(
    store: Store,
    cells: list[Cell],
    protocol: Protocol,
    home: Path,
    env_overrides: dict[str, str],
    on_cell: OnCell,
    on_phase: OnPhase | None = None,
) -> int:
    """Run every cell in turn, committing each to the store the moment it finishes.

    `home` holds the environments; reference files go beside the store, one folder per run,
    one file per spec content hash (same-named specs never share one).
    """
    sha = git_sha()
    config = {
        "protocol": dataclasses.asdict(protocol),
        "cells": [c.label for c in cells],
        "env_overrides": env_overrides,
    }
    run_id = store.start_run(config, sha)
    references: dict[str, Path] = {}
    status = "interrupted"
    try:
        for cell in cells:
            spec_hash = cell.workload.content_hash
            if spec_hash not in references:
                references[spec_hash] = store.reference_dir(run_id) / f"{spec_hash}.npz"
                write_reference(cell.workload, references[spec_hash])
            result = run_cell(cell, protocol, home, env_overrides, references[spec_hash], on_phase)
            environment = dataclasses.replace(result.environment, dlarena_git_sha=sha)
            store.add_cell(run_id, dataclasses.replace(result, environment=environment))
            on_cell(cell, result)
        status = "finished"
    finally:
        store.finish_run(run_id, status)
    return run_id


def run_cell(
    cell: Cell,
    protocol: Protocol,
    home: Path,
    env_overrides: dict[str, str],
    ref_path: Path,
    on_phase: OnPhase | None = None,
) -> CellResult:
    """One cell in a fresh worker; an unavailable framework or a dead worker is a failed cell."""
    record = CellResult(
        workload=cell.workload.name,
        runtime=cell.runtime,
        tier=cell.tier,
        mode=cell.mode,
        status="failed",
        spec=cell.workload.canonical_json(),
        spec_hash=cell.workload.content_hash,
    )
    try:
        env = envs.resolve(cell.runtime, home, env_overrides)
    except FrameworkUnavailable as exc:
        return dataclasses.replace(record, reason=str(exc))
    task = WorkerTask(
        module=RUNTIMES[cell.runtime].module,
        workload=cell.workload.to_dict(),
        tier=cell.tier,
        mode=cell.mode,
        threads=protocol.threads,
        device=protocol.device,
        reference=str(ref_path),
        warmup=protocol.warmup,
        repeats=protocol.repeats,
        min_repeat_s=protocol.min_repeat_s,
    )

    def on_event(event: dict[str, Any], proc: Any) -> None:
        if event["event"] == "progress" and on_phase is not None:
            on_phase(cell, event["phase"])

    outcome = launch(env.python, task, protocol.timeout_s, on_event)
    record = dataclasses.replace(
        record, env_name=env.name, exit_code=outcome.exit_code, parity=outcome.parity
    )
    if not outcome.ok or outcome.result is None:
        return dataclasses.replace(record, reason=outcome.reason, stderr_tail=outcome.stderr_tail)
    result = outcome.result
    return dataclasses.replace(
        record,
        status="ok",
        environment=result.environment,
        phases=result.phases,
        samples=result.samples,
        summary=summarize(result.samples, cell.workload.batch_size),
    )
