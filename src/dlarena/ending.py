"""How every framework process ends once its answer is written: flushed, then out at once.

A framework's interpreter teardown (its atexit hooks, thread pools and module destructors) takes
about a second for torch and TensorFlow and measures nothing; it only delays the next process.
Whatever such a process leaves behind (a compiler's helper processes) is in its process group,
which the host removes when the process has ended."""

from __future__ import annotations

import os
import sys
from typing import IO, NoReturn


def leave(*streams: IO[str]) -> NoReturn:
    """Flush `streams`, stdout and stderr, and exit with status 0 without the teardown."""
    for stream in (*streams, sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)
