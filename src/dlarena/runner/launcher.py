"""Start one worker process per task, stream its JSON lines, and never leave it running.

The launcher knows processes and timeouts (runner/process.py: how each is started); nothing
about frameworks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from dlarena.codec import decode, encode
from dlarena.records import PROTOCOL_VERSION, ParityCheck, Threading, WorkerResult, WorkerTask
from dlarena.runner.process import kill_group, spawn, worker_env

STDERR_TAIL_CHARS = 2000


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What came back from one worker: its result, or why there is none."""

    ok: bool
    result: WorkerResult | None
    reason: str | None = None
    exit_code: int | None = None
    stderr_tail: str = ""
    parity: tuple[ParityCheck, ...] = ()


@dataclasses.dataclass(frozen=True)
class Exchange:
    """What one worker process wrote and how it ended."""

    events: list[dict[str, Any]]
    timed_out: bool
    exit_code: int
    stderr_tail: str


class Session:
    """One worker process on `threading`'s CPUs, its own process group, `payload` as a JSON line on
    its stdin (closed at once unless `keep_stdin`: a paired worker takes commands there), its
    JSON lines read as they come; `close` kills the group whatever state it is in."""

    def __init__(
        self,
        python: str,
        module: str,
        payload: Any,
        threading: Threading,
        on_event: Callable[[dict[str, Any], subprocess.Popen], None] | None = None,
        keep_stdin: bool = False,
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self.on_event = on_event
        self.timed_out = False
        self.ended = False
        self._buffer = b""
        self._lines: list[bytes] = []
        self._stderr = tempfile.TemporaryFile("w+b")  # noqa: SIM115 (closed by close())
        self.proc = spawn(
            python, ["-m", module], threading.cpus, worker_env(threading), stderr=self._stderr
        )
        self._selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.send(payload)
        if not keep_stdin:
            self.end_input()

    def send(self, payload: Any) -> bool:
        """Write one JSON line to the worker; False if it is no longer reading."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return False
        return True

    def end_input(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()

    def until(
        self, kinds: frozenset[str] = frozenset(), timeout_s: float = 0.0, per_event: bool = False
    ) -> dict[str, Any] | None:
        """Read events until one of `kinds` comes (returned; an error event ends the wait too),
        or, without `kinds`, until the worker's output ends; or until `timeout_s` passes (since
        the call, or since the last line with `per_event`). None unless one of `kinds` came."""
        deadline = time.monotonic() + timeout_s
        while self._lines or not self.ended:
            if self._lines:  # read before, not yet looked at
                event = _event(self._lines.pop(0))
                self.events.append(event)
                if per_event:
                    deadline = time.monotonic() + timeout_s
                if self.on_event is not None:
                    self.on_event(event, self.proc)
                if kinds and (event["event"] in kinds or event["event"] == "error"):
                    return event if event["event"] in kinds else None
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                return None
            if self._selector.select(remaining):
                self._read()
        return None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            self.ended = True
            self.proc.wait()
            return
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        self._lines.extend(filter(None, lines))

    def close(self) -> Exchange:
        """Kill the worker's process group if it is still there; what it wrote and how it ended."""
        _kill(self.proc)
        self._selector.close()
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdout.close()
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace")[-STDERR_TAIL_CHARS:]
        self._stderr.close()
        return Exchange(self.events, self.timed_out, self.proc.returncode, tail)


def exchange(
    python: str,
    module: str,
    payload: Any,
    threading: Threading,
    timeout_s: float,
    on_event: Callable[[dict[str, Any], subprocess.Popen], None] | None = None,
    per_event: bool = False,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> Exchange:
    """Run `python -m module` on `threading`'s CPUs with `payload` as JSON on stdin, and read
    its JSON lines until it exits, or until `timeout_s` passes (since the start, or since its
    last line with `per_event`); the process group is killed whatever happens. `on_start` gets
    the process as soon as it exists (to stop it from elsewhere)."""
    session = Session(python, module, payload, threading, on_event)
    try:
        if on_start is not None:
            on_start(session.proc)
        session.until(timeout_s=timeout_s, per_event=per_event)
    finally:
        done = session.close()
    return done


def launch(
    python: str,
    task: WorkerTask,
    timeout_s: float,
    on_event: Callable[[dict[str, Any], subprocess.Popen], None] | None = None,
) -> Outcome:
    """Run `python -m dlarena.worker` on `task`; a crash or timeout becomes a failed Outcome."""
    done = exchange(python, "dlarena.worker", encode(task), task.threading, timeout_s, on_event)
    return outcome_of(done, timeout_s)


def outcome_of(done: Exchange, timeout_s: float) -> Outcome:
    return _outcome(done.events, done.timed_out, timeout_s, done.exit_code, done.stderr_tail)


def _event(line: bytes) -> dict[str, Any]:
    """One JSON line from the worker; a line that is not this protocol becomes an error event."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return _protocol_error(f"the worker wrote a line that is not JSON: {line[:200]!r}")
    spoken = event.get("protocol") if isinstance(event, dict) else None
    if spoken != PROTOCOL_VERSION:
        return _protocol_error(
            f"the worker speaks protocol {spoken}, this dlarena {PROTOCOL_VERSION}; "
            "recreate its environment"
        )
    return event


def _protocol_error(message: str) -> dict[str, Any]:
    return {"event": "error", "type": "ProtocolError", "message": message}


def _kill(proc: subprocess.Popen) -> None:
    kill_group(proc)
    proc.wait()


def _outcome(
    events: list[dict[str, Any]], timed_out: bool, timeout_s: float, code: int, tail: str
) -> Outcome:
    parity = next(
        (
            tuple(decode(ParityCheck, c) for c in e["checks"])
            for e in events
            if e["event"] == "parity"
        ),
        (),
    )
    result = next((e["result"] for e in events if e["event"] == "result"), None)
    error = next((e for e in events if e["event"] == "error"), None)
    if result is not None and code == 0 and error is None:
        return Outcome(True, decode(WorkerResult, result), None, code, tail, parity)
    if timed_out:
        phase = next((e["phase"] for e in reversed(events) if e["event"] == "progress"), "start")
        reason = f"timed out after {timeout_s:g}s in phase '{phase}'"
    else:
        reason = (
            f"{error['type']}: {error['message']}"
            if error
            else f"worker exited with code {code} ({_signal_name(code)})"
        )
    return Outcome(False, None, reason, code, tail, parity)


def _signal_name(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return "no result"
