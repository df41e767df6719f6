"""Dies without a word after its twentieth inference: in the middle of its turns, under paired
isolation (after parity, warm-up and a few timed blocks)."""

from __future__ import annotations

import os
import signal
from typing import Any

from tests.fakes.base import NumpyAdapter


class TiredAdapter(NumpyAdapter):
    calls = 0

    def infer(self, batch: Any) -> Any:
        TiredAdapter.calls += 1
        if TiredAdapter.calls == 20:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().infer(batch)


ADAPTER = TiredAdapter
