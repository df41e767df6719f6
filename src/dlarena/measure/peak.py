"""The machine's matrix-multiply peak on a worker's CPUs: the yardstick for 'percent of peak'.
Run as `python -m dlarena.measure.peak SECONDS [bf16]` with the worker's threads and CPUs
(runner/once.py: probe_peak): float32 through NumPy's BLAS, bfloat16 through PyTorch (oneDNN's
bfloat16 GEMM, in an environment that has it)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SIZE = 1024  # 2.1 GFLOP per product: long enough to time, short enough to repeat


def measure(seconds: float, precision: str = "fp32") -> float:
    """Best GFLOP/s of SIZE x SIZE products at `precision` over about `seconds`."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((SIZE, SIZE), dtype=np.float32) for _ in range(2))
    matmul: Callable[[Any, Any], Any] = np.matmul
    if precision == "bf16":
        import torch

        a, b = (torch.from_numpy(m).to(torch.bfloat16) for m in (a, b))
        matmul = torch.matmul
    matmul(a, b)  # the library warms up its threads
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        matmul(a, b)
        best = max(best, 2 * SIZE**3 / (time.perf_counter() - start) / 1e9)
    return best


if __name__ == "__main__":
    print(json.dumps({"gflops": measure(float(sys.argv[1]), *sys.argv[2:3])}))
