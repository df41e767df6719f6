"""The model under test, built from the host's reference file (canonical weights, batches and
float64 expectations), and its parity checks: what a bench worker and a parity checker share."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from dlarena.frameworks.base import InferenceAdapter, TrainingAdapter
from dlarena.measure import parity, timing
from dlarena.records import PROTOCOL_VERSION, ParityCheck, Setup, WorkerTask
from dlarena.spec.model import Workload


def import_adapter(module: str) -> Any:
    """The ADAPTER of a runtime's module."""
    return importlib.import_module(module).ADAPTER


# What only the training checks read: a wide model's float64 gradients and parameters are
# hundreds of MB that an inference item, or the weights alone, never need to load
TRAINING_ONLY = ("grads", "params")


def load_reference(path: str, training: bool = True) -> dict[str, Any]:
    """The host's reference file: canonical weights, the batch and float64 expectations (the
    training checks' only where `training`)."""
    with np.load(path, allow_pickle=False) as data:
        version = int(data["format_version"]) if "format_version" in data.files else 0
        if version != PROTOCOL_VERSION:
            raise ValueError(f"reference {path} has format {version}, expected {PROTOCOL_VERSION}")
        groups: dict[str, Any] = {"weights": {}, "grads": {}, "params": {}}
        for key in data.files:
            prefix, _, name = key.partition(":")
            if prefix in TRAINING_ONLY and not training:
                continue
            if prefix in groups:
                groups[prefix][name] = data[key]
            else:
                groups[key] = data[key]
    return groups


def check_forward(
    adapter: InferenceAdapter, batch: Any, ref: dict[str, Any], bounds: dict[str, float]
) -> tuple[float, list[ParityCheck]]:
    """Logits of the full batch against the float64 reference (the first call timed)."""
    seconds, handle = timing.timed(lambda: adapter.infer(batch), adapter.sync)
    return seconds, parity.forward_checks(adapter.to_numpy(handle), ref, bounds)


def parity_rows(ref: dict[str, Any], rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The conditioned parity batch, repeated to `rows` where that is a whole number of times:
    each step's mean over the repeats is the batch's own (batch norm's statistics too), so the
    float64 trace holds for it, and a bench cell checks the graph at the shape it times."""
    x, y = ref["parity_x"], ref["parity_y"]
    if not rows or rows % len(x):
        return x, y
    repeats = rows // len(x)
    return np.concatenate([x] * repeats), np.concatenate([y] * repeats)


def check_training(
    adapter: TrainingAdapter, ref: dict[str, Any], bounds: dict[str, float], rows: int | None = None
) -> tuple[float | None, list[ParityCheck]]:
    """Gradients at the canonical weights, then the first steps, on the conditioned batch
    (repeated to `rows`, the timed batch's, where it can be). With the timed batch's rows, the
    first step is the step's first call (its compile), timed: (its seconds or None, checks)."""
    x, y = parity_rows(ref, rows)
    batch = adapter.prepare(x, y)
    loss0, grads = adapter.loss_and_grads(batch)
    start = {k: np.array(v, copy=True) for k, v in adapter.parameters().items()}
    first_s, handle = timing.timed(lambda: adapter.train_step(batch), adapter.sync)
    losses = [float(adapter.to_numpy(handle))] + [
        float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(parity.PARITY_STEPS - 1)
    ]
    moved = {k: v - start[k] for k, v in adapter.parameters().items()}
    checks = parity.training_checks(loss0, losses, grads, moved, ref, bounds)
    return (first_s if len(x) == rows else None), checks


def build_twin(
    adapter_cls: type, workload: Workload, ref: dict[str, Any], tier: str, mode: str, setup: Setup
) -> InferenceAdapter:
    """The model parity is checked on (the workload's twin without dropout), with the
    canonical weights."""
    adapter = adapter_cls(workload.parity_twin(), ref["weights"], tier, mode, setup)
    if mode == "train" and not isinstance(adapter, TrainingAdapter):
        raise TypeError(f"{adapter_cls.__module__} runs inference only; it has no 'train' mode")
    return adapter


def with_dropout(adapter_cls: type, workload: Workload, task: WorkerTask, setup: Setup) -> Any:
    """The model training steps are timed on: parity ran on its twin without dropout, so a
    model with dropout is built again, from the canonical weights, with it on."""
    weights = load_reference(task.reference, training=False)["weights"]
    return adapter_cls(workload, weights, task.tier, task.mode, setup)
