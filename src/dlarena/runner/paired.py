"""Paired isolation: the cells being compared run as live workers side by side, pinned to the
same CPUs, and take turns timing short blocks, so every framework sees the machine within a
second of every other.

Each worker starts alone (import, build, parity and warm-up never overlap another's), says
"ready" and waits. Then, round after round in a freshly shuffled order, one worker at a time
times one block (after one untimed step: another ran since); the host lets the previous one's
threads settle before each turn, and no two workers ever time at once. Last, one at a time, each
measures its latency (inference) and sends its result. A worker that dies or hangs fails its
own cell; the others go on.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any

from dlarena.codec import encode
from dlarena.errors import FrameworkUnavailable
from dlarena.records import CellResult, WorkerTask
from dlarena.runner import envs
from dlarena.runner.cell import Cell, OnPhase, from_outcome
from dlarena.runner.launcher import Session, outcome_of

# Seconds between one worker's block and the next worker's: the threads of the one that just
# timed (OpenMP, Eigen and XLA pools spin briefly after their work) go idle first.
SETTLE_S = 0.05
READY = frozenset({"ready"})
TURN = frozenset({"turn"})


@dataclasses.dataclass
class Live:
    """One worker of the group: its cell, its process, and the seconds it spent working (its
    start, its own turns and its finish; not the others' turns)."""

    cell: Cell
    task: WorkerTask
    record: CellResult
    env_name: str = ""
    session: Session | None = None
    busy_s: float = 0.0

    def timed(
        self, command: dict[str, Any] | None, kinds: frozenset[str], timeout_s: float
    ) -> bool:
        """Send `command` (or close its input: the finish), then wait for one of `kinds` (or
        the end of its output when none); False if the worker failed meanwhile."""
        assert self.session is not None
        started = time.perf_counter()
        try:
            if command is None:
                self.session.send({"do": "finish"})
                self.session.end_input()
            elif not self.session.send(command):
                return False
            answer = self.session.until(kinds, timeout_s)
            return answer is not None or (not kinds and not self.session.timed_out)
        finally:
            self.busy_s += time.perf_counter() - started


def run_group(
    members: list[tuple[Cell, WorkerTask]],
    home: Path,
    env_overrides: dict[str, str],
    timeout_s: float,
    rounds: int,
    on_phase: OnPhase | None = None,
) -> list[CellResult]:
    """One worker process for each cell of the group, taking `rounds` turns each; the cells'
    records in the order given (an unavailable framework or a dead worker: that cell failed)."""
    group = [Live(cell, task, dataclasses.replace(cell.empty(), threading=task.threading))
             for cell, task in members]  # fmt: skip
    try:
        ready = [live for live in group if _start(live, home, env_overrides, timeout_s, on_phase)]
        shuffler = random.Random()
        for round in range(rounds):
            order = list(ready)
            shuffler.shuffle(order)
            for live in order:
                time.sleep(SETTLE_S)
                if not live.timed({"do": "block", "round": round}, TURN, timeout_s):
                    ready.remove(live)
        for live in ready:  # one at a time: latency is measured alone too
            live.timed(None, frozenset(), timeout_s)
    finally:
        done = {id(live): live.session.close() for live in group if live.session is not None}
    return [_record(live, done.get(id(live)), timeout_s) for live in group]


def _start(
    live: Live,
    home: Path,
    env_overrides: dict[str, str],
    timeout_s: float,
    on_phase: OnPhase | None,
) -> bool:
    """Start the worker and wait, alone, until it is warm and ready for its turns."""
    try:
        env = envs.resolve(live.cell.runtime, home, env_overrides)
    except FrameworkUnavailable as exc:
        live.record = dataclasses.replace(live.record, reason=str(exc))
        return False
    live.env_name = env.name

    def on_event(event: dict[str, Any], proc: Any) -> None:
        if event["event"] == "progress" and on_phase is not None:
            on_phase(live.cell, event["phase"])

    started = time.perf_counter()
    try:
        live.session = Session(
            env.python, "dlarena.worker", encode(live.task), live.task.threading, on_event, True
        )
        return live.session.until(READY, timeout_s) is not None
    finally:
        live.busy_s += time.perf_counter() - started


def _record(live: Live, done: Any, timeout_s: float) -> CellResult:
    if done is None:  # never started: the record says why
        return live.record
    return from_outcome(
        live.record, live.env_name, live.task, outcome_of(done, timeout_s), live.busy_s
    )
