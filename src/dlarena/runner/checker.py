"""Prove specs on every runtime without a benchmark: one long-lived parity checker process per
runtime (python -m dlarena.checker), each importing its framework once and checking many specs,
tiers and modes; runtimes checked side by side, one thread each, since nothing is timed."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from dlarena.checker_records import CheckItem, CheckTask, ParityVerdict
from dlarena.codec import decode, encode
from dlarena.errors import DlarenaError, FrameworkUnavailable, Interrupted
from dlarena.frameworks import RUNTIMES
from dlarena.records import ParityCheck, Threading
from dlarena.runner import envs
from dlarena.runner.cell import Cell
from dlarena.runner.launcher import Exchange, exchange
from dlarena.runner.process import kill_group
from dlarena.runner.reference import ambiguity_warnings, write_reference

OnVerdict = Callable[[ParityVerdict], None]
# One thread per checker; no pinning: checkers share the CPUs, none is measured; freed memory
# kept for the next item (fewer page faults, nothing timed)
CHECKER_THREADS = Threading("fair", intra_op=1, inter_op=1, cpus=(), malloc="keep")


@dataclasses.dataclass(frozen=True)
class _Pending:
    cell: Cell
    item: CheckItem
    ambiguous_rows: int


def check_parity(
    cells: list[Cell],
    home: Path,
    env_overrides: dict[str, str],
    timeout_s: float = 600.0,
    on_verdict: OnVerdict | None = None,
    width: int | None = None,
    device: str = "cpu",
) -> list[ParityVerdict]:
    """Each cell's parity verdict, in the order of `cells`. `timeout_s` bounds one item (a
    checker silent that long is killed; its item fails, the rest go on in a new process);
    `width`: checkers at a time (default: one per CPU). Ctrl-C stops every checker."""
    checks = _Checks(home, env_overrides, timeout_s, device, on_verdict)
    with tempfile.TemporaryDirectory(prefix="dlarena-parity-") as folder:
        pending = _items(cells, Path(folder), timeout_s)
        runtimes = list(dict.fromkeys(c.runtime for c in cells))
        width = width or max(1, min(len(runtimes), len(os.sched_getaffinity(0))))

        def one(runtime: str) -> list[ParityVerdict]:
            return checks.runtime(runtime, [p for p in pending if p.cell.runtime == runtime])

        pool = ThreadPoolExecutor(width, thread_name_prefix="dlarena-checker")
        try:
            futures = [pool.submit(one, runtime) for runtime in runtimes]
            # never block without a timeout: Ctrl-C delivered to a checker thread only raises
            # in this (the main) thread once it runs Python again
            while wait(futures, timeout=0.2).not_done:
                pass
            found = [v for future in futures for v in future.result()]
        except KeyboardInterrupt:
            checks.stop()
            raise Interrupted("interrupted: the parity checkers were stopped") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    index = {v.label + v.spec_hash: v for v in found}
    return [index[f"{c.label}{c.workload.content_hash}"] for c in cells]


def _items(cells: list[Cell], folder: Path, timeout_s: float) -> list[_Pending]:
    """One reference file per spec content, shared by every runtime, tier and mode."""
    written: dict[str, tuple[Path, int]] = {}
    out = []
    for cell in cells:
        key = cell.workload.content_hash
        if key not in written:
            path = folder / f"{key}.npz"
            try:
                written[key] = (path, write_reference(cell.workload, path, timeout_s))
            except OSError as exc:
                raise DlarenaError(
                    f"cannot write the parity reference {path} ({exc.strerror}); free disk "
                    "space or point TMPDIR at a writable folder"
                ) from None
        path, rows = written[key]
        item = CheckItem(cell.workload.to_dict(), cell.tier, cell.mode, str(path))
        out.append(_Pending(cell, item, rows))
    return out


@dataclasses.dataclass
class _Checks:
    """What every checker of one call shares, and the checker processes alive now."""

    home: Path
    env_overrides: dict[str, str]
    timeout_s: float
    device: str
    on_verdict: OnVerdict | None
    live: set[subprocess.Popen] = dataclasses.field(default_factory=set)
    stopped: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def runtime(self, runtime: str, pending: list[_Pending]) -> list[ParityVerdict]:
        """Every item of one runtime; a checker that dies or hangs fails the item it was on,
        and a new one checks the rest."""
        try:
            python = envs.resolve(runtime, self.home, self.env_overrides).python
        except FrameworkUnavailable as exc:
            return [self.failed(p, str(exc)) for p in pending]
        verdicts: list[ParityVerdict] = []
        while pending and not self.stopped:
            answered, done = self.one_checker(python, runtime, pending)
            verdicts += answered
            pending = pending[len(answered) :]
            why = _why(done, self.timeout_s)
            if any(e["event"] == "error" for e in done.events):  # it could not start: none can
                return verdicts + [self.failed(p, why) for p in pending]
            if pending:  # the checker ended before the next item's answer: that item fails
                verdicts.append(self.failed(pending[0], why, done.stderr_tail))
                pending = pending[1:]
        return verdicts

    def one_checker(
        self, python: str, runtime: str, pending: list[_Pending]
    ) -> tuple[list[ParityVerdict], Exchange]:
        """One checker process over `pending`: the verdicts of the items it answered, in
        order, each passed on as it comes."""
        items = tuple(p.item for p in pending)
        task = CheckTask(RUNTIMES[runtime].module, CHECKER_THREADS, self.device, items)
        answered: list[ParityVerdict] = []

        def on_event(event: dict[str, Any], proc: subprocess.Popen) -> None:
            if event["event"] in ("checked", "check_error") and event["index"] == len(answered):
                answered.append(_verdict(pending[len(answered)], event))
                if self.on_verdict is not None:
                    self.on_verdict(answered[-1])

        done = exchange(
            python, "dlarena.checker", encode(task), CHECKER_THREADS, self.timeout_s, on_event,
            per_event=True, on_start=self.started,
        )  # fmt: skip
        return answered, done

    def failed(self, pending: _Pending, reason: str, tail: str = "") -> ParityVerdict:
        cell = pending.cell
        verdict = ParityVerdict(
            cell.workload.name, cell.workload.content_hash, cell.runtime, cell.tier, cell.mode,
            "failed", reason=reason, stderr_tail=tail or None,
        )  # fmt: skip
        if self.on_verdict is not None:
            self.on_verdict(verdict)
        return verdict

    def started(self, proc: subprocess.Popen) -> None:
        """A checker exists; one that started while Ctrl-C stopped the others goes too."""
        with self.lock:
            self.live.add(proc)
            stopped = self.stopped
        if stopped:
            kill_group(proc)

    def stop(self) -> None:
        """Kill every checker alive (each in a process group of its own), and any that starts
        from now on."""
        with self.lock:
            self.stopped = True
            live = list(self.live)
        for proc in live:
            kill_group(proc)


def _verdict(pending: _Pending, event: dict[str, Any]) -> ParityVerdict:
    cell = pending.cell
    base = ParityVerdict(
        cell.workload.name, cell.workload.content_hash, cell.runtime, cell.tier, cell.mode, "failed"
    )
    if event["event"] == "check_error":
        return dataclasses.replace(base, reason=f"{event['type']}: {event['message']}")
    return dataclasses.replace(
        base,
        status="ok",
        checks=tuple(decode(ParityCheck, c) for c in event["checks"]),
        framework_version=event.get("framework_version"),
        warnings=ambiguity_warnings(pending.ambiguous_rows, cell.mode),
    )


def _why(done: Exchange, timeout_s: float) -> str:
    if done.timed_out:
        return f"the parity checker was silent for {timeout_s:g}s on this item and was killed"
    error = next((e for e in done.events if e["event"] == "error"), None)
    if error is not None:
        return f"{error['type']}: {error['message']}"
    return f"the parity checker exited with code {done.exit_code} on this item"
