"""TensorFlow (Keras 3): SavedModel through Model.export, ONNX through Model.export(format=
'onnx') (tf2onnx), and TFLite/LiteRT through TFLiteConverter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlarena.frameworks.tensorflow.backend import tf
from dlarena.probes.exports import (
    ExportPath,
    onnx_runtime,
    run_onnx,
    run_tflite,
    tflite_interpreter,
)


def _saved_model(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "saved_model"
    adapter.model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def _onnx(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "model.onnx"
    adapter.model.export(str(target), format="onnx", verbose=False)
    return target


def _tflite(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "model.tflite"
    target.write_bytes(tf.lite.TFLiteConverter.from_keras_model(adapter.model).convert())
    return target


def _tflite_int8(adapter: Any, x: Any, folder: Path) -> Path:
    """TFLiteConverter's dynamic range quantization (Optimize.DEFAULT: weights int8)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(adapter.model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    target = folder / "model-int8.tflite"
    target.write_bytes(converter.convert())
    return target


PATHS = {
    "SavedModel": ExportPath(
        _saved_model,
        lambda a, x: tf.saved_model.load(str(a)),
        lambda m, x: np.asarray(m.serve(x)),
        "tensorflow",
    ),
    "onnx (Model.export)": ExportPath(
        _onnx, onnx_runtime, run_onnx, "onnxruntime", needs="tf2onnx"
    ),
    "TFLite / LiteRT": ExportPath(
        _tflite,
        tflite_interpreter,
        run_tflite,
        "LiteRT interpreter",
        warns_about=("tf.lite", "interpreter", "litert"),
    ),  # fmt: skip
    "TFLite int8 (dynamic range)": ExportPath(
        _tflite_int8,
        tflite_interpreter,
        run_tflite,
        "LiteRT interpreter",
        quantized=True,
        warns_about=("tf.lite", "interpreter", "litert"),
    ),  # fmt: skip
}
