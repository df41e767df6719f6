"""ONNX Runtime (inference only): the spec built directly as an ONNX graph with onnx.helper.

'eager' runs the graph as written (ORT_DISABLE_ALL); 'compiled' lets ONNX Runtime fuse and
rewrite it (ORT_ENABLE_ALL), its own best-practice fast path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from dlarena.frameworks.base import Arrays, InferenceAdapter
from dlarena.records import Setup
from dlarena.spec.model import INPUT, Layer, Workload

OPSET = 17


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers for the spec's layer graph (NCHW inside)."""

    def __init__(self, weights: Arrays):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def layer(self, layer: Layer, ins: list[str]) -> str:
        n, x = layer.name, ins[0]
        if layer.op == "dense":
            out = self.node(
                "MatMul",
                [x, self.const(f"{n}.kernel", self.weights[f"{n}.kernel"])],
                f"{n}_matmul" if layer.attr("bias") else n,
            )
            if layer.attr("bias"):
                out = self.node("Add", [out, self.const(f"{n}.bias", self.weights[f"{n}.bias"])], n)
            return out
        if layer.op == "conv2d":
            return self._conv(layer, x)
        if layer.op == "batch_norm":
            args = [
                self.const(f"{n}.{k}", self.weights[f"{n}.{k}"])
                for k in ("gamma", "beta", "moving_mean", "moving_var")
            ]
            return self.node("BatchNormalization", [x, *args], n, epsilon=layer.attr("epsilon"))
        if layer.op in ("max_pool", "avg_pool"):
            op = "MaxPool" if layer.op == "max_pool" else "AveragePool"
            k, s = layer.attr("size"), layer.attr("stride")
            return self.node(op, [x], n, kernel_shape=[k, k], strides=[s, s])
        if layer.op == "add":
            return self.node("Add", ins, n)
        if layer.op == "global_avg_pool":
            return self.node("Flatten", [self.node("GlobalAveragePool", [x], f"{n}_pool")], n)
        if layer.op == "gelu":
            return self._gelu(n, x)
        return self.node({"relu": "Relu", "tanh": "Tanh"}[layer.op], [x], n)

    def _conv(self, layer: Layer, x: str) -> str:
        n, k, s, p = layer.name, layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
        kernel = self.weights[f"{n}.kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
        inputs = [x, self.const(f"{n}.kernel", kernel)]
        if layer.attr("bias"):
            inputs.append(self.const(f"{n}.bias", self.weights[f"{n}.bias"]))
        return self.node("Conv", inputs, n, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)

    def _gelu(self, n: str, x: str) -> str:
        """Exact (erf) GELU from primitive ops; ONNX Runtime fuses it when optimizing."""
        scaled = self.node(
            "Mul", [x, self.const(f"{n}.rsqrt2", np.float32(1 / math.sqrt(2)))], f"{n}_scaled"
        )
        erf = self.node("Erf", [scaled], f"{n}_erf")
        one_plus = self.node("Add", [erf, self.const(f"{n}.one", np.float32(1.0))], f"{n}_1p")
        half_x = self.node("Mul", [x, self.const(f"{n}.half", np.float32(0.5))], f"{n}_half")
        return self.node("Mul", [half_x, one_plus], n)


def build_model(workload: Workload, weights: Arrays) -> onnx.ModelProto:
    builder = _GraphBuilder(weights)
    values = {INPUT: INPUT}
    if len(workload.input_shape) == 3:
        values[INPUT] = builder.node("Transpose", [INPUT], "input_nchw", perm=[0, 3, 1, 2])
    for layer in workload.layers:
        values[layer.name] = builder.layer(layer, [values[n] for n in layer.inputs])
    batch = "batch"  # symbolic: the same graph serves the workload's batch and batch 1
    graph = helper.make_graph(
        builder.nodes,
        workload.name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, *workload.input_shape])],
        [
            helper.make_tensor_value_info(
                values[workload.layers[-1].name], TensorProto.FLOAT, [batch, workload.num_classes]
            )
        ],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class OnnxruntimeAdapter(InferenceAdapter):
    """Inference only: ONNX Runtime has no training API that fits a native comparison."""

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
