"""selfcheck: dlarena's throughput against hand-written loops of the same model, measured in the
same invocation, under the same threads and CPUs, interleaved in rounds (ABBA).

overhead_ratio = hand-written throughput / dlarena throughput; 1.0 means the harness adds
nothing. The hand-written loops live in each framework's folder
(frameworks/<name>/selfcheck.py; the plumbing they share is selfcheck/loop.py): built-in `mlp`
(256-256-256-128-10, SGD with momentum), written as a user would: no adapter, no spec, no
dlarena timing code.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from dlarena.errors import FrameworkUnavailable
from dlarena.frameworks import having, part
from dlarena.measure.machine import SlowGuard
from dlarena.measure.stats import Comparison, compare_throughput, process_throughputs
from dlarena.records import CellResult, Threading
from dlarena.runner import envs, once
from dlarena.runner.cell import Cell, Yardstick, merge, run_process, task_for
from dlarena.runner.reference import write_reference
from dlarena.spec.loader import load_workload

LOOPS = having("selfcheck")  # frameworks whose folder has a hand-written loop


@dataclasses.dataclass(frozen=True)
class SelfcheckRow:
    runtime: str
    tier: str
    dlarena_samples_per_s: float
    hand_samples_per_s: float
    comparison: Comparison  # hand over dlarena
    threading: str
    error: str | None = None
    reruns: int = 0  # processes (either side) run again because the machine had a slow stretch

    @property
    def overhead_ratio(self) -> float:
        return self.comparison.ratio


@dataclasses.dataclass(frozen=True)
class HandBlocks:
    seconds: list[float]
    probes: list[float]


def run_hand_loop(
    python: str, runtime: str, task: dict, threading: Threading, timeout_s: float
) -> HandBlocks:
    """Seconds of each block of the hand-written loop and its GEMM probe, run like a worker
    (same env, CPUs)."""
    try:
        out = once.run_module(
            python, part(runtime, "selfcheck"), task, threading, timeout_s,
            line_prefix=('{"block_seconds"',), tail_chars=400,
        )  # fmt: skip
    except once.WorkerFailed as exc:
        raise FrameworkUnavailable(f"the hand-written {runtime} loop: {exc}") from None
    return HandBlocks(out["block_seconds"], [out["probe_gflops"]])


@dataclasses.dataclass
class Selfcheck:
    """One selfcheck session: the mlp, its reference, the CPUs and the protocol."""

    home: Path
    threading: Threading
    rounds: int = 3
    blocks: int = 10
    min_block_s: float = 0.2
    timeout_s: float = 900.0
    on_progress: Callable[[str], None] = print
    slow: SlowGuard = dataclasses.field(default_factory=SlowGuard)

    def row(self, runtime: str, tier: str, reference: Path) -> SelfcheckRow:
        workload = load_workload("mlp")
        cell = Cell(workload, runtime, tier, "train")
        python = envs.resolve(runtime, self.home, {}).python
        ours: CellResult | None = None
        hand: list[list[float]] = []  # per-block samples/s, one list per process
        reruns = 0
        key = (runtime, self.threading.intra_op)
        for index in range(self.rounds):
            for side in ("dlarena", "hand") if index % 2 == 0 else ("hand", "dlarena"):
                self.on_progress(f"{runtime}/{tier} round {index + 1}: {side}")
                if side == "dlarena":
                    part, again = self.slow.steady(
                        functools.partial(self._dlarena, cell, reference, index), key, True
                    )
                    ours = merge(ours, part, Yardstick(workload.batch_size))
                    if ours.status != "ok":
                        raise FrameworkUnavailable(f"{cell.label}: {ours.reason}")
                else:
                    steps = ours.blocks[0].steps if ours else 50
                    task = {
                        "reference": str(reference),
                        "tier": tier,
                        "steps": steps,
                        "blocks": self.blocks,
                        "intra_op": self.threading.intra_op,
                        "inter_op": self.threading.inter_op,
                    }
                    hand_loop = functools.partial(
                        run_hand_loop, python, runtime, task, self.threading, self.timeout_s
                    )
                    blocks, again = self.slow.steady(hand_loop, key, calibrate=True)
                    hand.append([workload.batch_size * steps / s for s in blocks.seconds])
                reruns += again
        assert ours is not None
        theirs = process_throughputs(ours.blocks, workload.batch_size)
        comparison = compare_throughput(hand, theirs)
        return SelfcheckRow(
            runtime,
            tier,
            ours.samples_per_s,
            statistics.median(statistics.median(p) for p in hand),
            comparison,
            self.threading.label,
            reruns=reruns,
        )

    def _dlarena(self, cell: Cell, reference: Path, index: int) -> CellResult:
        fields = {"device": "cpu", "blocks": self.blocks, "min_block_s": self.min_block_s}
        task = task_for(cell, self.threading, reference, index, **fields)
        return run_process(cell, task, self.home, {}, self.timeout_s)

    def run(self, runtimes: list[str], tiers: list[str]) -> list[SelfcheckRow]:
        with tempfile.TemporaryDirectory(prefix="dlarena-selfcheck-") as folder:
            reference = Path(folder) / "mlp.npz"
            write_reference(load_workload("mlp"), reference)
            rows = []
            for runtime in runtimes:
                for tier in tiers:
                    try:
                        rows.append(self.row(runtime, tier, reference))
                    except (FrameworkUnavailable, subprocess.TimeoutExpired) as exc:
                        failed = Comparison(0.0, 0.0, 0.0, 1.0)
                        rows.append(SelfcheckRow(runtime, tier, 0, 0, failed, "", str(exc)))
            return rows
