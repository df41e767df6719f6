"""JAX: jax.export (serialized StableHLO), LiteRT through jax2tf, and ONNX through jax2onnx (in
the on-demand environment export-jax2onnx: its orbax pin conflicts with the main one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from dlarena.probes.exports import (
    ExportPath,
    onnx_runtime,
    run_onnx,
    run_tflite,
    tflite_interpreter,
)


def _function(adapter: Any) -> Any:
    params, stats = adapter.params, adapter.batch_stats
    return lambda x: adapter._pure_infer(params, stats, x)


def _export(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "model.jax_exported"
    exported = jax.export.export(jax.jit(_function(adapter)))(x)
    target.write_bytes(exported.serialize())
    return target


def _jax2onnx(adapter: Any, x: Any, folder: Path) -> Path:
    from jax2onnx import to_onnx

    target = folder / "model.onnx"
    spec = jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype)
    to_onnx(_function(adapter), [spec], return_mode="file", output_path=str(target))
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
    "onnx (jax2onnx)": ExportPath(
        _jax2onnx, onnx_runtime, run_onnx, "onnxruntime", needs="jax2onnx"
    ),
}
