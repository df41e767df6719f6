"""selfcheck: dlarena's throughput against hand-written loops of the same model, measured in the
same invocation, under the same threads and CPUs, the two live side by side and taking turns
(paired isolation: the overhead ratio is read round by round).

overhead_ratio = hand-written throughput / dlarena throughput; 1.0 means the harness adds
nothing. The hand-written loops live in each framework's folder
(frameworks/<name>/selfcheck.py; the plumbing they share is selfcheck/loop.py): built-in `mlp`
(256-256-256-128-10, SGD with momentum), written as a user would: no adapter, no spec, no
dlarena timing code.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlarena.codec import encode
from dlarena.errors import FrameworkUnavailable
from dlarena.frameworks import having, part
from dlarena.measure.stats import Comparison, compare_paired, paired_ratios
from dlarena.records import Block, CellResult, Threading
from dlarena.runner import envs
from dlarena.runner.cell import Cell, Yardstick, merge, task_for
from dlarena.runner.paired import Live, Member, take_turns
from dlarena.runner.reference import write_reference
from dlarena.selfcheck.records import LoopTask
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

    @property
    def overhead_ratio(self) -> float:
        return self.comparison.ratio

    def as_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "tier": self.tier,
            "threading": self.threading,
            "dlarena_samples_per_s": self.dlarena_samples_per_s,
            "hand_samples_per_s": self.hand_samples_per_s,
            "overhead_ratio": self.overhead_ratio,
            "ratio_ci": [self.comparison.ci_low, self.comparison.ci_high],
            "p_value": self.comparison.p_value,
            "verdict": self.comparison.verdict,
            "error": self.error,
        }

    def table_row(self) -> list[str]:
        """runtime, tier, both throughputs, the ratio, its CI and p (or why it failed)."""
        if self.error:
            return [self.runtime, self.tier, "-", "-", "failed", "-", self.error[:200]]
        c = self.comparison
        return [
            self.runtime,
            self.tier,
            f"{self.dlarena_samples_per_s:,.0f}",
            f"{self.hand_samples_per_s:,.0f}",
            f"{self.overhead_ratio:.3f}",
            f"{c.ci_low:.3f}-{c.ci_high:.3f}",
            f"{c.p_value:.2g}",
        ]


@dataclasses.dataclass
class Selfcheck:
    """One selfcheck session: the mlp, its reference, the CPUs and the protocol. Each of
    `rounds` pairs of processes (dlarena's worker and the hand-written loop, live side by side)
    takes `blocks` turns (runner/paired.py)."""

    home: Path
    threading: Threading
    rounds: int = 3
    blocks: int = 10
    min_block_s: float = 0.2
    timeout_s: float = 900.0
    on_progress: Callable[[str], None] = print

    def row(self, runtime: str, tier: str, reference: Path) -> SelfcheckRow:
        workload = load_workload("mlp")
        cell = Cell(workload, runtime, tier, "train")
        ours: CellResult | None = None
        hand: list[Block] = []
        for index in range(self.rounds):
            self.on_progress(f"{runtime}/{tier} processes {index + 1} of {self.rounds}")
            part, seconds = self._pair(cell, reference, index)
            ours = merge(ours, part, Yardstick(workload.batch_size))
            # the loop took its turns in the same rounds as the worker, block for block
            hand += [
                dataclasses.replace(b, seconds=s) for b, s in zip(part.blocks, seconds, strict=True)
            ]
        assert ours is not None
        batch = workload.batch_size
        return SelfcheckRow(
            runtime,
            tier,
            ours.samples_per_s,
            statistics.median(batch * b.steps / b.seconds for b in hand),
            compare_paired(paired_ratios(hand, ours.blocks, batch, batch)),
            self.threading.label,
        )

    def _pair(self, cell: Cell, reference: Path, index: int) -> tuple[CellResult, list[float]]:
        """dlarena's worker and the hand-written loop, live side by side, taking turns: the
        worker's record and the loop's block seconds, round by round."""
        fields = {"device": "cpu", "blocks": self.blocks, "min_block_s": self.min_block_s}
        task = task_for(cell, self.threading, reference, index, paired=True, **fields)
        worker = Member(cell, task, Live(self.timeout_s), cell.empty())
        hand = Live(self.timeout_s)
        try:
            if not worker.start(self.home, {}, None):
                why = worker.record.reason or worker.live.reason()
                raise FrameworkUnavailable(f"{cell.label}: {why}")
            steps = worker.live.ready["steps"] if worker.live.ready else 0
            threads = (self.threading.intra_op, self.threading.inter_op)
            loop = encode(LoopTask(str(reference), cell.tier, steps, *threads))
            python = envs.resolve(cell.runtime, self.home, {}).python
            module = part(cell.runtime, "selfcheck")
            if not hand.start(python, module, loop, self.threading):
                raise FrameworkUnavailable(f"the hand-written {cell.runtime} loop: {hand.reason()}")
            standing = take_turns([worker.live, hand], self.blocks)
            for live, name in ((worker.live, cell.label), (hand, "the hand-written loop")):
                if live not in standing:
                    raise FrameworkUnavailable(f"{name} failed taking turns: {live.reason()}")
        finally:
            worker.live.close()
            hand.close()
        ours = worker.result()
        if ours.status != "ok":
            raise FrameworkUnavailable(f"{cell.label}: {ours.reason}")
        (result,) = (e for e in hand.events() if e["event"] == "result")
        return ours, result["block_seconds"]

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
