"""A correct inference adapter made of NumPy: the float64 reference itself, as float32."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlarena.frameworks.base import Arrays, InferenceAdapter
from dlarena.records import Setup
from dlarena.spec import reference
from dlarena.spec.model import Workload


class NumpyAdapter(InferenceAdapter):
    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        return Setup(framework_version=np.__version__, device="cpu", intra_op_threads=intra_op)

    @classmethod
    def forget(cls) -> None:
        """NumPy keeps nothing across models."""

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        self.workload = workload
        self.weights = {k: v.astype(np.float64) for k, v in weights.items()}

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        return x

    def infer(self, batch: Any) -> Any:
        return reference.forward(self.workload, self.weights, batch, training=False)[0]

    def sync(self, handle: Any) -> None:
        """NumPy is synchronous."""

    def to_numpy(self, handle: Any) -> np.ndarray:
        return np.asarray(handle)

    def allocator_peak_mb(self) -> float | None:
        return None


ADAPTER = NumpyAdapter
