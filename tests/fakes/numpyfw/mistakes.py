"""The debugging probe's mistakes in NumPy: eager in both tiers; np.errstate(all='raise') is its
NaN-checking mode."""

from collections.abc import Callable

import numpy as np

from dlarena.probes.mistakes import W_SHAPE, W, X

Stage = Callable[[str], None]
NAN_MODE = "np.errstate(invalid='raise')"


def matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w  # FAULT


def log_shift(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.log(x - 10.0) @ w  # FAULT


def _run(forward: Callable, tier: str, stage: Stage, x: np.ndarray, w: np.ndarray) -> object:
    stage("call")
    return forward(x, w)


def shape(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, X, W_SHAPE)


def dtype(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, X.astype("float64"), W)  # NumPy promotes: not caught


def nan(tier: str, stage: Stage) -> object:
    with np.errstate(invalid="ignore"):
        return _run(log_shift, tier, stage, X, W)


def nan_check(tier: str, stage: Stage) -> object:
    with np.errstate(invalid="raise"):
        return _run(log_shift, tier, stage, X, W)
