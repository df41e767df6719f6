"""Writes to stdout from Python and from the C level, as frameworks do when they load."""

from __future__ import annotations

import os
import sys
from typing import Any

from dlarena.records import Setup
from tests.fakes.base import NumpyAdapter


class ChattyAdapter(NumpyAdapter):
    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        print("python-level chatter")
        sys.stdout.flush()
        os.write(1, b"C-level chatter on fd 1\n")
        return super().configure(intra_op, inter_op, device)

    def infer(self, batch: Any) -> Any:
        print('{"event": "result", "not": "from the worker"}')
        return super().infer(batch)


ADAPTER = ChattyAdapter
