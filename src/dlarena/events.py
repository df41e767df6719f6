"""The event channel a framework process speaks to the host on: one JSON line per event,
{"event": ..., "protocol": N, ...}, on a private copy of stdout (records.py has the protocol's
format history); framework chatter, even from C, goes to stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

from dlarena.ending import leave
from dlarena.records import PROTOCOL_VERSION

_OUT = sys.stdout


def emit(event: str, **fields: Any) -> None:
    _OUT.write(json.dumps({"event": event, "protocol": PROTOCOL_VERSION, **fields}) + "\n")
    _OUT.flush()


def keep_stdout_for_events() -> None:
    """Framework chatter written to fd 1 would corrupt the JSON stream: keep a private copy of
    stdout for events and point fd 1 at stderr."""
    global _OUT
    _OUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def finish() -> NoReturn:
    """The answer is written: leave at once (ending.leave)."""
    leave(_OUT)
