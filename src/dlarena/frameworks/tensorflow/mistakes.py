"""TensorFlow: eager, and tf.function(jit_compile=True) traced before its first call."""

from collections.abc import Callable

from dlarena.frameworks.tensorflow.backend import tf
from dlarena.probes.mistakes import W_SHAPE, W, X

Stage = Callable[[str], None]
NAN_MODE = "tf.debugging.enable_check_numerics()"


def matmul(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    return tf.matmul(x, w)  # FAULT


def log_shift(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    return tf.matmul(tf.math.log(x - 10.0), w)  # FAULT


def _run(forward: Callable, tier: str, stage: Stage, x: object, w: object) -> object:
    run = forward
    if tier == "compiled":
        run = tf.function(forward, jit_compile=True)
        stage("trace")
        run = run.get_concrete_function(x, w)
    stage("call")
    out = run(x, w)
    stage("sync")
    return out.numpy()


def shape(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, tf.constant(X), tf.constant(W_SHAPE))


def dtype(tier: str, stage: Stage) -> object:
    return _run(matmul, tier, stage, tf.constant(X.astype("float64")), tf.constant(W))


def nan(tier: str, stage: Stage) -> object:
    return _run(log_shift, tier, stage, tf.constant(X), tf.constant(W))


def nan_check(tier: str, stage: Stage) -> object:
    tf.debugging.enable_check_numerics()
    try:
        return _run(log_shift, tier, stage, tf.constant(X), tf.constant(W))
    finally:
        tf.debugging.disable_check_numerics()
