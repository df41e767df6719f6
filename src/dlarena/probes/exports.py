"""The ways a model leaves each framework: one module per framework (imported only inside that
framework's environment), each a dict PATHS of name -> Path. A path exports the adapter's model
into a folder, loads the artifact back and runs it; the probe compares its output with the
framework's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class ExportPath:
    export: Callable[[Any, Any, Path], Path]  # (adapter, input, folder) -> the artifact
    load: Callable[[Path, Any], Any]  # (artifact, input) -> a runnable
    run: Callable[[Any, Any], np.ndarray]  # (runnable, input) -> outputs
    target: str  # what runs the artifact
    deprecated: str | None = None  # why, where the path is deprecated
    # a deprecation warning raised while exporting or loading that names one of these makes
    # the path deprecated too (others, about the framework's internals, are only recorded)
    warns_about: tuple[str, ...] = ()
    needs: str | None = None  # a module the path imports (absent: a named skip)
    # int8 weights (dynamic quantization): held to QUANTIZED_TOLERANCE of the float32 output,
    # not float32's; the record says it is quantized and how far it moved
    quantized: bool = False


def quantize_onnx(source: Path, target: Path) -> Path:
    """ONNX Runtime's dynamic int8 quantization of an ONNX file (weights int8, activations
    quantized per call)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return target


def onnx_runtime(artifact: Path, x: Any) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])


def run_onnx(session: Any, x: Any) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: np.asarray(x)})[0])


def tflite_interpreter(artifact: Path, x: Any) -> Any:
    """LiteRT's interpreter (ai_edge_litert) where installed, else tf.lite's (deprecated),
    resized to the batch: converters write a batch-1 input."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(artifact))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(np.shape(x)))
    interpreter.allocate_tensors()
    return interpreter


def run_tflite(interpreter: Any, x: Any) -> np.ndarray:
    details = interpreter.get_input_details()[0]
    interpreter.set_tensor(details["index"], np.asarray(x, dtype=details["dtype"]))
    interpreter.invoke()
    return np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
