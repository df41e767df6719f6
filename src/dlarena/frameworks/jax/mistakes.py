"""JAX: eager (op by op), and jax.jit lowered and compiled before its first call."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from dlarena.probes.mistakes import W_SHAPE, W, X

Stage = Callable[[str], None]
NAN_MODE = "jax.config.update('jax_debug_nans', True)"


def matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    return x @ w  # FAULT


def log_shift(x: jax.Array, w: jax.Array) -> jax.Array:
    return jnp.log(x - 10.0) @ w  # FAULT


def _run(forward: Callable, tier: str, stage: Stage, x: object, w: object) -> object:
    run = forward
    if tier == "compiled":
        stage("trace")
        run = jax.jit(forward).lower(x, w).compile()
    stage("call")
    out = run(x, w)
    stage("sync")
    return jax.device_get(out)


def shape(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, jnp.asarray(X), jnp.asarray(W_SHAPE))


def dtype(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, X.astype("float64"), jnp.asarray(W))


def nan(tier: str, stage: Stage) -> object:
    return _run(log_shift, tier, stage, jnp.asarray(X), jnp.asarray(W))


def nan_check(tier: str, stage: Stage) -> object:
    jax.config.update("jax_debug_nans", True)
    try:
        return _run(log_shift, tier, stage, jnp.asarray(X), jnp.asarray(W))
    finally:
        jax.config.update("jax_debug_nans", False)
