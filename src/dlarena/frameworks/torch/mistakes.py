"""PyTorch: eager, and torch.compile (which traces at the first call)."""

from collections.abc import Callable
from typing import Any

import torch

from dlarena.probes.mistakes import W_SHAPE, W, X

Stage = Callable[[str], None]
NAN_MODE = "torch.autograd.detect_anomaly(check_nan=True)"


def _tiered(forward: Callable, tier: str) -> Callable:
    return torch.compile(forward) if tier == "compiled" else forward


def matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x @ w  # FAULT


def log_shift(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.log(x - 10.0) @ w  # FAULT


def _run(forward: Callable, tier: str, stage: Stage, x: Any, w: Any) -> object:
    run = _tiered(forward, tier)
    stage("call")
    out = run(torch.from_numpy(x), torch.from_numpy(w))
    stage("sync")
    return out.numpy()


def shape(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, X, W_SHAPE)


def dtype(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, X.astype("float64"), W)


def nan(tier: str, stage: Stage) -> object:
    return _run(log_shift, tier, stage, X, W)


def nan_check(tier: str, stage: Stage) -> object:
    """Anomaly mode checks what backward computes: the forward NaN shows up there."""
    run = _tiered(log_shift, tier)
    w = torch.from_numpy(W).requires_grad_()
    with torch.autograd.detect_anomaly(check_nan=True):
        stage("call")
        out = run(torch.from_numpy(X), w)
        stage("backward")
        out.sum().backward()
    stage("sync")
    return out.detach().numpy()
