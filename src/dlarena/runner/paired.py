"""Paired isolation: the cells being compared run as live workers side by side, pinned to the
same CPUs, and take turns timing short blocks, so every framework sees the machine within a
second of every other.

Each worker starts alone (import, build, parity and warm-up never overlap another's), says
"ready" and waits. Then, round after round in a freshly shuffled order and back (A B C C B A),
one worker at a time times one short block (after one untimed step: another ran since); before
each turn the host waits until every worker's threads are idle (thread pools spin on after
their work), so no two workers ever time at once. Last, one at a time, each measures its
latency (inference) and sends its result. A worker that dies or hangs fails its own cell; the
others go on. selfcheck pairs a hand-written loop with a worker the same way.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlarena.codec import encode
from dlarena.errors import FrameworkUnavailable
from dlarena.records import CellResult, Threading, WorkerTask
from dlarena.runner import envs
from dlarena.runner.cell import Cell, OnPhase, from_outcome
from dlarena.runner.launcher import Exchange, Session, outcome_of

# Before each turn the host waits until every worker of the group is idle: the thread pools of
# the one that just timed spin on after their work (OpenBLAS for about 0.1 s, OpenMP, Eigen and
# XLA pools briefly), and a turn timed beside them would pay for it. Idle: under IDLE_SHARE of
# one CPU over a SETTLE_POLL_S window; the wait is given up after SETTLE_MAX_S.
SETTLE_POLL_S = 0.01
IDLE_SHARE = 0.05
SETTLE_MAX_S = 1.0
# Rounds past the protocol's (for workers short of their timed seconds): at most this many times
MORE_ROUNDS = 4
READY = frozenset({"ready"})
TURN = frozenset({"turn"})


@dataclasses.dataclass(eq=False)  # one worker is equal to itself only
class Live:
    """One live worker process and the seconds it spent working: its start, its own turns and
    its finish, not the others' turns."""

    timeout_s: float
    session: Session | None = None
    busy_s: float = 0.0
    timed_s: float = 0.0  # the seconds of its timed blocks so far
    ready: dict[str, Any] | None = None  # its "ready" event
    done: Exchange | None = None

    def start(
        self,
        python: str,
        module: str,
        payload: Any,
        threading: Threading,
        on_event: Callable[[dict[str, Any], Any], None] | None = None,
    ) -> bool:
        """Start it and wait, alone, until it is warm and says "ready"."""
        started = time.perf_counter()
        try:
            self.session = Session(python, module, payload, threading, on_event, keep_stdin=True)
            self.ready = self.session.until(READY, self.timeout_s)
            return self.ready is not None
        finally:
            self.busy_s += time.perf_counter() - started

    def turn(self, round: int) -> bool:
        """One timed block; False if the worker failed meanwhile."""
        answer = self._timed({"do": "block", "round": round}, TURN)
        if answer is None:
            return False
        self.timed_s += float(answer.get("seconds", 0.0))
        return True

    def finish(self) -> bool:
        """Tell it the turns are over and read it to its end (latency, result)."""
        self._timed(None, frozenset())
        assert self.session is not None
        return not self.session.timed_out

    def _timed(
        self, command: dict[str, Any] | None, kinds: frozenset[str]
    ) -> dict[str, Any] | None:
        """Send the command (None: the end of the turns) and wait for an event of these kinds;
        that event (None if none came)."""
        assert self.session is not None
        started = time.perf_counter()
        try:
            if command is None:
                self.session.send({"do": "finish"})
                self.session.end_input()
            elif not self.session.send(command):
                return None
            return self.session.until(kinds, self.timeout_s)
        finally:
            self.busy_s += time.perf_counter() - started

    def close(self) -> None:
        if self.session is not None and self.done is None:
            self.done = self.session.close()

    def events(self) -> list[dict[str, Any]]:
        return self.session.events if self.session is not None else []

    def reason(self) -> str:
        """Why it failed (it is stopped first, if it is not yet)."""
        self.close()
        if self.done is None:
            return "it never started"
        return outcome_of(self.done, self.timeout_s).reason or "it ended without a result"


def take_turns(ready: list[Live], rounds: int, timed_s: float = 0.0) -> list[Live]:
    """`rounds` rounds, and more (up to MORE_ROUNDS times as many) until every worker has timed
    `timed_s` seconds: short turns are noisier, so short steps take more of them. Each round
    in a freshly shuffled order and then that order reversed (A B C C B A: each worker's two
    blocks of a round are centred on the same moment, so a machine whose speed drifts steadily
    through the round slows them all alike); then each finishes, one at a time. The workers
    still standing at the end."""
    standing = list(ready)
    shuffler = random.Random()
    round, most = 0, MORE_ROUNDS * rounds
    while standing and round < most and (round < rounds or _least_timed(standing) < timed_s):
        order = list(standing)
        shuffler.shuffle(order)
        for live in order + order[::-1]:
            if live not in standing:
                continue  # failed earlier in this round
            settle(standing)
            if not live.turn(round):
                standing.remove(live)
        round += 1
    finished = []
    for live in standing:  # latency and the closing probe: each alone too
        settle(standing)
        if live.finish():
            finished.append(live)
    return finished


def _least_timed(standing: list[Live]) -> float:
    return min(live.timed_s for live in standing)


def settle(group: list[Live]) -> float:
    """Wait until every process of the group's workers (their process groups: a framework's
    helper processes too) is idle; the seconds waited."""
    groups = {live.session.proc.pid for live in group if live.session is not None}
    started = time.perf_counter()
    before = cpu_ns(groups)
    while time.perf_counter() - started < SETTLE_MAX_S:
        time.sleep(SETTLE_POLL_S)
        now = cpu_ns(groups)
        if now - before < IDLE_SHARE * SETTLE_POLL_S * 1e9:
            break
        before = now
    return time.perf_counter() - started


def cpu_ns(groups: set[int]) -> int:
    """Nanoseconds on a CPU so far of every thread of every process in these process groups
    (the scheduler's own count, /proc/PID/task/TID/schedstat; 0 where /proc has none)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pgrp = int(stat.read_text().rpartition(")")[2].split()[2])
            if pgrp in groups:
                for task in (stat.parent / "task").iterdir():
                    total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not readable
    return total


@dataclasses.dataclass(eq=False)
class Member:
    """A cell of the group with its live worker."""

    cell: Cell
    task: WorkerTask
    live: Live
    record: CellResult
    env_name: str = ""

    def start(self, home: Path, env_overrides: dict[str, str], on_phase: OnPhase | None) -> bool:
        try:
            env = envs.resolve(self.cell.runtime, home, env_overrides)
        except FrameworkUnavailable as exc:
            self.record = dataclasses.replace(self.record, reason=str(exc))
            return False
        self.env_name = env.name

        def on_event(event: dict[str, Any], proc: Any) -> None:
            if event["event"] == "progress" and on_phase is not None:
                on_phase(self.cell, event["phase"])

        payload = encode(self.task)
        return self.live.start(env.python, "dlarena.worker", payload, self.task.threading, on_event)

    def result(self) -> CellResult:
        done = self.live.done
        if done is None:  # never started: the record says why
            return self.record
        outcome = outcome_of(done, self.live.timeout_s)
        return from_outcome(self.record, self.env_name, self.task, outcome, self.live.busy_s)


def run_group(
    members: list[tuple[Cell, WorkerTask]],
    home: Path,
    env_overrides: dict[str, str],
    timeout_s: float,
    rounds: int,
    on_phase: OnPhase | None = None,
    timed_s: float = 0.0,
) -> list[CellResult]:
    """One worker process for each cell of the group, taking `rounds` rounds of turns each (more
    until each has timed `timed_s` seconds, take_turns); the cells' records in the order given
    (an unavailable framework or a dead worker: that cell failed)."""
    group = [
        Member(
            cell, task, Live(timeout_s), dataclasses.replace(cell.empty(), threading=task.threading)
        )
        for cell, task in members
    ]
    try:
        ready = [m.live for m in group if m.start(home, env_overrides, on_phase)]
        take_turns(ready, rounds, timed_s)
    finally:
        for member in group:
            member.live.close()
    return [member.result() for member in group]
