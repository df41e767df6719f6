"""JAX: jax.export (serialized StableHLO), and LiteRT through jax2tf; ONNX needs jax2onnx (an
environment of its own: its orbax pin conflicts with the main one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from dlarena.probes.exports import ExportPath, elsewhere, run_tflite, tflite_interpreter


def _function(adapter: Any) -> Any:
    params, stats = adapter.params, adapter.batch_stats
    return lambda x: adapter._pure_infer(params, stats, x)


def _export(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "model.jax_exported"
    exported = jax.export.export(jax.jit(_function(adapter)))(x)
    target.write_bytes(exported.serialize())
    return target


def _jax2tf_tflite(adapter: Any, x: Any, folder: Path) -> Path:
    import tensorflow as tf
    from jax.experimental import jax2tf

    converted = tf.function(
        jax2tf.convert(_function(adapter), native_serialization=False),
        input_signature=[tf.TensorSpec(np.shape(x), np.asarray(x).dtype)],
        autograph=False,
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [converted.get_concrete_function()], converted
    )
    target = folder / "model.tflite"
    target.write_bytes(converter.convert())
    return target


PATHS = {
    "jax.export": ExportPath(
        _export,
        lambda a, x: jax.export.deserialize(bytearray(a.read_bytes())),
        lambda exported, x: np.asarray(exported.call(x)),
        "jax",
    ),
    "LiteRT via jax2tf": ExportPath(
        _jax2tf_tflite,
        tflite_interpreter,
        run_tflite,
        "LiteRT interpreter",
        warns_about=("jax2tf", "tf.lite", "interpreter", "litert"),
    ),  # fmt: skip
    "onnx (jax2onnx)": elsewhere("onnxruntime", "jax2onnx"),
}
