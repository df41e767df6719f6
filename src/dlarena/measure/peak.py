"""The machine's float32 matrix-multiply peak on a worker's CPUs: the yardstick for 'percent
of peak'. Run as `python -m dlarena.measure.peak SECONDS` with the worker's threads and CPUs
(runner/once.py: probe_peak)."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

SIZE = 1024  # 2.1 GFLOP per product: long enough to time, short enough to repeat


def measure(seconds: float) -> float:
    """Best GFLOP/s of SIZE x SIZE float32 products over about `seconds`."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((SIZE, SIZE), dtype=np.float32) for _ in range(2))
    np.matmul(a, b)  # the BLAS warms up its threads
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        np.matmul(a, b)
        best = max(best, 2 * SIZE**3 / (time.perf_counter() - start) / 1e9)
    return best


if __name__ == "__main__":
    print(json.dumps({"gflops": measure(float(sys.argv[1]))}))
