"""Seeded canonical weights and synthetic data, made in numpy so every framework gets the same."""

from __future__ import annotations

import numpy as np

from dlarena.spec.model import Workload, parameter_shapes


def canonical_weights(workload: Workload) -> dict[str, np.ndarray]:
    """He-scaled kernels, small biases and non-trivial batch-norm state, from the spec's seed."""
    rng = np.random.default_rng(workload.seed)
    weights = {}
    for key, shape in parameter_shapes(workload).items():
        kind = key.rsplit(".", 1)[1]
        if kind == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif kind == "gamma":
            value = 1.0 + rng.normal(0.0, 0.1, shape)
        elif kind == "moving_var":
            value = rng.uniform(0.5, 1.5, shape)
        else:  # bias, beta, moving_mean
            value = rng.normal(0.0, 0.1, shape)
        weights[key] = value.astype(np.float32)
    return weights


def synthetic_batch(workload: Workload, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One batch of inputs (float32, NHWC for images) and integer labels."""
    rng = np.random.default_rng([workload.seed, seed])
    x = rng.normal(0.0, 1.0, (workload.batch_size, *workload.input_shape)).astype(np.float32)
    y = rng.integers(0, workload.num_classes, workload.batch_size).astype(np.int32)
    return x, y
