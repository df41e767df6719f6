"""Hangs while building the model, as a deadlocked framework would."""

from __future__ import annotations

import time

from tests.fakes.base import NumpyAdapter


class SleepyAdapter(NumpyAdapter):
    def __init__(self, *args: object) -> None:
        time.sleep(600)


ADAPTER = SleepyAdapter
