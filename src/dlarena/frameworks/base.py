"""The adapter contract: what every framework module implements (worker side only).

Two abstract levels: an `InferenceAdapter` builds and runs a model (ONNX Runtime stops here), a
`TrainingAdapter` also trains it. Each adapter module ends with `ADAPTER = <its class>`.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from dlarena.records import Setup
from dlarena.spec.model import Workload

Arrays = dict[str, np.ndarray]


# What the raw-API variants (tensorflow-raw, jax-raw) write out: the image and tabular ops.
RAW_OPS = frozenset(
    ("dense", "relu", "relu6", "gelu", "tanh", "sigmoid", "conv2d", "batch_norm", "max_pool",
     "avg_pool", "add", "scale", "global_avg_pool")
)  # fmt: skip


def refuse_precision(runtime: str, workload: Workload, why: str) -> None:
    """Raise, saying `why`, when the workload computes in mixed precision and this adapter
    computes in float32 only."""
    if workload.precision != "fp32":
        raise NotImplementedError(f"{runtime} has no {workload.precision} path: {why}")


RAW_FLOAT32 = (
    "the raw-op variant computes in float32 only; the library adapter beside it measures "
    "mixed precision"
)


def refuse_ops(runtime: str, workload: Workload, supported: frozenset[str]) -> None:
    """Raise, naming them, when the workload uses ops this adapter does not build (or mixed
    precision, which the raw-op variants do not write)."""
    refuse_precision(runtime, workload, RAW_FLOAT32)
    missing = sorted({layer.op for layer in workload.layers} - supported)
    if missing:
        raise NotImplementedError(
            f"{runtime} does not build {', '.join(missing)}: it covers "
            f"{', '.join(sorted(supported))}; run the framework's library adapter for this workload"
        )


class InferenceAdapter(abc.ABC):
    """One framework building one workload in one tier ('eager' or 'compiled').

    Canonical arrays (weights in, parameters and gradients out) use the spec's layouts:
    dense kernels (in, out), conv kernels (kh, kw, in, out), images NHWC.
    """

    @classmethod
    @abc.abstractmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        """Set process-wide thread pools before the first op; return what was set.

        Knobs a framework reads from the environment (OMP_NUM_THREADS, affinity) are set by the
        launcher before the process starts."""

    @classmethod
    @abc.abstractmethod
    def forget(cls) -> None:
        """Drop what the framework keeps across models (compiled graphs, caches, layer names),
        so that the next model built in this process starts as in a fresh one (the parity
        checker builds many models in one process)."""

    @abc.abstractmethod
    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        """Build the model natively on `setup.device` and load the canonical weights."""

    @abc.abstractmethod
    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        """Move one batch into the framework's own layout and device, outside any timing."""

    @abc.abstractmethod
    def infer(self, batch: Any) -> Any:
        """Logits for the batch in inference mode (may return before the work is done)."""

    @abc.abstractmethod
    def sync(self, handle: Any) -> None:
        """Block until the work behind `handle` has really finished."""

    @abc.abstractmethod
    def to_numpy(self, handle: Any) -> np.ndarray:
        """Logits (from infer) or the loss (from train_step) as a NumPy array."""

    @abc.abstractmethod
    def allocator_peak_mb(self) -> float | None:
        """The framework allocator's peak so far (device memory), or None where it keeps none."""


class TrainingAdapter(InferenceAdapter):
    """An adapter that also trains: optimizer steps, gradients and parameters."""

    @abc.abstractmethod
    def train_step(self, batch: Any) -> Any:
        """One optimizer step; returns a handle that `sync` can wait on."""

    @abc.abstractmethod
    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        """Loss and canonical gradients at the current parameters, without an update."""

    @abc.abstractmethod
    def parameters(self) -> Arrays:
        """Current trainable parameters in canonical layout."""
