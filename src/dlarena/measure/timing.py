"""The timing protocol, run inside a worker: first call, warm-up, then timed repeats.

Every timed call ends with the adapter's `sync`, so asynchronous dispatch (JAX, MXNet, CUDA)
is never mistaken for finished work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(call: Callable[[], Any], sync: Callable[[Any], None]) -> tuple[float, Any]:
    """Seconds for one call, synchronized; and what it returned."""
    start = time.perf_counter()
    handle = call()
    sync(handle)
    return time.perf_counter() - start, handle


def warm_up(call: Callable[[], Any], sync: Callable[[Any], None], calls: int) -> list[float]:
    return [timed(call, sync)[0] for _ in range(calls)]


def measure_repeats(
    call: Callable[[], Any],
    sync: Callable[[Any], None],
    repeats: int,
    min_repeat_s: float,
    per_call_estimate_s: float,
) -> list[list[float]]:
    """`repeats` groups of per-call seconds; each group lasts about `min_repeat_s`."""
    calls = max(1, min(1000, int(min_repeat_s / max(per_call_estimate_s, 1e-6))))
    return [[timed(call, sync)[0] for _ in range(calls)] for _ in range(repeats)]
