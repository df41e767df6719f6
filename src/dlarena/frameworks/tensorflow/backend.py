"""TensorFlow and Keras as every TensorFlow process of dlarena imports them
(`from dlarena.frameworks.tensorflow.backend import keras, tf`): Keras 3 on the TensorFlow
backend, and TensorFlow without JAX. Where JAX is installed beside it (dlarena's main
environment), TensorFlow's Lite converter imports all of JAX for a converter from JAX that
dlarena never calls: 0.8 s of every TensorFlow process's start-up. A process that imported JAX
already (JAX's export through jax2tf) keeps it."""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # before the first keras import


def _tensorflow() -> Any:
    if "jax" in sys.modules:
        import tensorflow

        return tensorflow
    sys.modules["jax"] = None  # type: ignore[assignment]  # `import jax` raises ImportError
    try:
        import tensorflow
    finally:
        del sys.modules["jax"]
    return tensorflow


tf = _tensorflow()

import keras  # noqa: E402

__all__ = ["keras", "tf"]
