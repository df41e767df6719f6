"""ONNX Runtime (inference only): the spec built directly as an ONNX graph (graph.py).

'eager' runs the graph as written (ORT_DISABLE_ALL); 'compiled' lets ONNX Runtime fuse and
rewrite it (ORT_ENABLE_ALL), its own best-practice fast path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from dlarena.frameworks.base import Arrays, InferenceAdapter, refuse_precision
from dlarena.frameworks.onnxruntime.graph import build_model
from dlarena.records import Setup
from dlarena.spec.model import INPUT, Workload

# Measured with onnxruntime's CPU provider: a bfloat16 MatMul is refused at session creation
MIXED_REFUSED = (
    "the CPU execution provider has no bfloat16 MatMul or Gemm kernel (NOT_IMPLEMENTED: "
    "Could not find an implementation for MatMul(13)); float16 graphs are a GPU provider's path"
)


class OnnxruntimeAdapter(InferenceAdapter):
    """Inference only: ONNX Runtime has no training API that fits a native comparison."""

    @classmethod
    def forget(cls) -> None:
        """Each session holds its own graph; nothing outlives it."""

    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        provider = "CUDAExecutionProvider" if device == "gpu" else "CPUExecutionProvider"
        return Setup(
            framework_version=ort.__version__,
            device=provider,
            intra_op_threads=intra_op,
            inter_op_threads=inter_op,
            extras=(("onnx", onnx.__version__),),
        )

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        refuse_precision("onnxruntime", workload, MIXED_REFUSED)
        options = ort.SessionOptions()
        options.intra_op_num_threads = setup.intra_op_threads or 0
        options.inter_op_num_threads = setup.inter_op_threads or 0
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if tier == "compiled"
            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        model = build_model(workload, weights)
        providers = list(dict.fromkeys([setup.device, "CPUExecutionProvider"]))
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
        self.output = model.graph.output[0].name

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        return {INPUT: np.ascontiguousarray(x)}, y

    def infer(self, batch: Any) -> Any:
        return self.session.run([self.output], batch[0])[0]

    def sync(self, handle: Any) -> None:
        """session.run returns only when its outputs are in host memory."""

    def to_numpy(self, handle: Any) -> np.ndarray:
        return np.asarray(handle)

    def allocator_peak_mb(self) -> float | None:
        return None  # ONNX Runtime's arena reports no peak through the Python API


ADAPTER = OnnxruntimeAdapter
