"""Dies without a word when it builds a compiled model, as a framework's native crash would."""

from __future__ import annotations

import os
import signal
from typing import Any

from tests.fakes.base import NumpyAdapter


class CrashyAdapter(NumpyAdapter):
    def __init__(self, workload: Any, weights: Any, tier: str, *args: Any) -> None:
        if tier == "compiled":
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(workload, weights, tier, *args)


ADAPTER = CrashyAdapter
