"""The timing protocol, run inside a worker (standard library only).

Throughput comes from blocks: many steps run back to back, cycling over several pre-placed
batches, with one synchronization at the end of the block. A training loop never waits for each
step, so neither does dlarena; asynchronous runtimes (JAX, TensorFlow, MXNet, CUDA) are still
never mistaken for finished work, because the block ends with a sync on what it produced.
Latency is measured apart: one call, one sync, one figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

Call = Callable[[Any], Any]  # one step or one inference on a batch; returns a handle
Sync = Callable[[Any], None]


def timed(call: Callable[[], Any], sync: Sync) -> tuple[float, Any]:
    """Seconds for one call, synchronized; and what it returned."""
    start = time.perf_counter()
    handle = call()
    sync(handle)
    return time.perf_counter() - start, handle


# A step at least this long needs no trial block to size a timed block (a transformer's trial
# block of ten 0.2 s steps was 2 s of its worker's warm-up)
LONG_STEP_S = 0.005


def warm_up(call: Call, sync: Sync, batches: Sequence[Any], calls: int) -> list[float]:
    """Synchronized calls over the batches (compiles every shape); their seconds."""
    seconds = []
    for i in range(calls):
        start = time.perf_counter()
        sync(call(batches[i % len(batches)]))
        seconds.append(time.perf_counter() - start)
    return seconds


def block(call: Call, sync: Sync, batches: Sequence[Any], steps: int, keep_all: bool) -> float:
    """Seconds for `steps` calls back to back with one synchronization at the end.

    A training step depends on the previous one through the parameters, so waiting on the last
    handle waits on all of them; inference calls are independent (`keep_all`): every output is
    waited on at the end.
    """
    count = len(batches)
    handles: list[Any] = []
    start = time.perf_counter()
    for i in range(steps):
        last = call(batches[i % count])
        if keep_all:
            handles.append(last)
    for pending in handles if keep_all else [last]:
        sync(pending)
    return time.perf_counter() - start


def block_steps(
    step_estimate_s: float, min_block_s: float, min_steps: int, steps_within_s: float | None = None
) -> int:
    """Steps per block: at least `min_steps` (only as many of them as fit in `steps_within_s`,
    when given: a paired turn of long steps needs no ten), and enough to last about
    `min_block_s`."""
    step = max(step_estimate_s, 1e-7)
    if steps_within_s is not None:
        min_steps = min(min_steps, max(1, math.ceil(steps_within_s / step)))
    return max(min_steps, math.ceil(min_block_s / step))


def calibrate(
    call: Call,
    sync: Sync,
    batches: Sequence[Any],
    min_block_s: float,
    min_steps: int,
    keep: bool,
    steps_within_s: float | None = None,
    warmup_s: Sequence[float] = (),
) -> int:
    """Steps per block: from the warm-up's fastest call where a step is long (one
    synchronization per call is then under 1% of it), else from one trial block (a short
    step's warm-up estimate is mostly its sync costs)."""
    if warmup_s and min(warmup_s) >= LONG_STEP_S:
        return block_steps(min(warmup_s), min_block_s, min_steps, steps_within_s)
    steps = min_steps
    seconds = block(call, sync, batches, steps, keep)
    return block_steps(seconds / steps, min_block_s, min_steps, steps_within_s)


def latencies(
    call: Callable[[], Any], sync: Sync, budget_s: float, min_calls: int = 20
) -> list[float]:
    """Per-call seconds, each call synchronized, for about `budget_s` (at least `min_calls`)."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < min_calls or time.perf_counter() < deadline:
        samples.append(timed(call, sync)[0])
        if len(samples) >= 10_000:
            break
    return samples


class StageClock:
    """Seconds spent in each named stage of a worker or a run, in the order first seen."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def run(self, stage: str, call: Callable[[], Any]) -> Any:
        """Run `call`, counting its seconds to `stage`; what it returned."""
        start = time.perf_counter()
        try:
            return call()
        finally:
            self.add(stage, time.perf_counter() - start)

    def items(self) -> tuple[tuple[str, float], ...]:
        return tuple(self.seconds.items())
