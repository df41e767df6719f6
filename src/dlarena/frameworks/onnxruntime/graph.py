"""The spec built directly as an ONNX graph with onnx.helper: one builder method per op, the
canonical weights as initializers (NHWC inputs transposed once to NCHW), checked by onnx."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper

from dlarena.frameworks.base import Arrays
from dlarena.frameworks.onnxruntime.sequences import SequenceOps
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.shapes import infer_shapes, logits_shape

OPSET = 17


class _GraphBuilder(SequenceOps):
    """One method per spec op (sequence ops: SequenceOps)."""

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
            pads = [layer.attr("padding")] * 4 if layer.op == "max_pool" else [0] * 4
            return self.node(op, [x], n, kernel_shape=[k, k], strides=[s, s], pads=pads)
        if layer.op == "add":
            return self.node("Add", ins, n)
        if layer.op == "global_avg_pool":
            return self.node("Flatten", [self.node("GlobalAveragePool", [x], f"{n}_pool")], n)
        if layer.op == "gelu":
            return self._gelu(n, x)
        if layer.op == "gelu_tanh":
            return self._gelu_tanh(n, x)
        if layer.op == "embedding":
            return self.embedding(layer, x)
        if layer.op == "layer_norm":
            gamma, beta = (
                self.const(f"{n}.{k}", self.weights[f"{n}.{k}"]) for k in ("gamma", "beta")
            )
            return self.node(
                "LayerNormalization", [x, gamma, beta], n, axis=-1, epsilon=layer.attr("epsilon")
            )
        if layer.op == "attention":
            return self.attention(layer, ins)
        if layer.op == "lstm":
            return self.lstm(layer, x)
        if layer.op == "slice":
            return self._columns(n, x, layer.attr("start"), layer.attr("size"))
        if layer.op == "scale":
            return self.node(
                "Mul", [x, self.const(f"{n}.factor", np.float32(layer.attr("factor")))], n
            )
        if layer.op == "embedding_bag":
            return self._bag(layer, x)
        if layer.op == "concat":
            return self.node("Concat", ins, n, axis=1 if self.image(ins[0]) else -1)
        if layer.op == "dot_interaction":
            return self._interaction(n, ins)
        if layer.op in ("flatten", "reshape"):
            if self.image(x):  # NCHW inside: back to the canonical NHWC order first
                x = self.node("Transpose", [x], f"{n}_nhwc", perm=[0, 2, 3, 1])
            shape = [0, *layer.attr("shape")] if layer.op == "reshape" else [0, -1]
            return self.node("Reshape", [x, self.const(f"{n}.shape", np.array(shape, np.int64))], n)
        if layer.op == "tied_logits":
            table = self.weights[f"{layer.attr('embedding')}.table"]
            return self.node("MatMul", [x, self.const(f"{n}.table_t", table.T.copy())], n)
        if layer.op == "dropout":  # identity in inference
            return self.node("Identity", [x], n)
        if layer.op == "first_token":
            return self.node("Gather", [x, self.const(f"{n}.index", np.int64(0))], n, axis=1)
        if layer.op == "relu6":
            bounds = [self.const(f"{n}.{k}", np.float32(v)) for k, v in (("min", 0), ("max", 6))]
            return self.node("Clip", [x, *bounds], n)
        return self.node({"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}[layer.op], [x], n)

    def _columns(self, n: str, x: str, start: int, size: int) -> str:
        bounds = [self.const(f"{n}.{k}", np.array([v], np.int64)) for k, v in
                  (("starts", start), ("ends", start + size), ("axes", 1))]  # fmt: skip
        return self.node("Slice", [x, *bounds], n)

    def _bag(self, layer: Layer, x: str) -> str:
        n = layer.name
        columns = self._columns(f"{n}_ids", x, layer.attr("start"), layer.attr("size"))
        ids = self.node("Cast", [columns], f"{n}_int", to=TensorProto.INT64)
        table = self.const(f"{n}.table", self.weights[f"{n}.table"])
        rows = self.node("Gather", [table, ids], f"{n}_rows")
        if layer.attr("mode") == "mean":
            return self.node("ReduceMean", [rows], n, axes=[1], keepdims=0)
        axes = self.const(f"{n}.axes", np.array([1], np.int64))
        return self.node("ReduceSum", [rows, axes], n, keepdims=0)

    def _interaction(self, n: str, ins: list[str]) -> str:
        """The first vector, then every pairwise dot product (i < j) of the flattened Gram."""
        count = len(ins)
        axis = self.const(f"{n}.axis", np.array([1], np.int64))
        rows = [self.node("Unsqueeze", [v, axis], f"{n}_row{k}") for k, v in enumerate(ins)]
        z = self.node("Concat", rows, f"{n}_z", axis=1)
        zt = self.node("Transpose", [z], f"{n}_zt", perm=[0, 2, 1])
        gram = self.node("MatMul", [z, zt], f"{n}_gram")
        flat = self.node(
            "Reshape", [gram, self.const(f"{n}.flat", np.array([0, -1], np.int64))], f"{n}_flat"
        )
        i, j = np.triu_indices(count, k=1)
        dots = self.node(
            "Gather",
            [flat, self.const(f"{n}.pairs", (i * count + j).astype(np.int64))],
            f"{n}_dots",
            axis=1,
        )
        return self.node("Concat", [ins[0], dots], n, axis=1)

    def _gelu_tanh(self, n: str, x: str) -> str:
        """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) from primitive ops."""
        cube = self.node("Mul", [self.node("Mul", [x, x], f"{n}_sq"), x], f"{n}_cube")
        inner = self.node(
            "Add",
            [x, self.node("Mul", [cube, self.const(f"{n}.c3", np.float32(0.044715))], f"{n}_c3x3")],
            f"{n}_inner",
        )
        scaled = self.node(
            "Mul", [inner, self.const(f"{n}.c", np.float32(math.sqrt(2 / math.pi)))], f"{n}_scaled"
        )
        one_plus = self.node(
            "Add",
            [self.node("Tanh", [scaled], f"{n}_tanh"), self.const(f"{n}.one", np.float32(1.0))],
            f"{n}_1p",
        )
        half_x = self.node("Mul", [x, self.const(f"{n}.half", np.float32(0.5))], f"{n}_half")
        return self.node("Mul", [half_x, one_plus], n)

    def _conv(self, layer: Layer, x: str) -> str:
        n, k, s, p = layer.name, layer.attr("kernel"), layer.attr("stride"), layer.attr("padding")
        kernel = self.weights[f"{n}.kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
        inputs = [x, self.const(f"{n}.kernel", kernel)]
        if layer.attr("bias"):
            inputs.append(self.const(f"{n}.bias", self.weights[f"{n}.bias"]))
        return self.node(
            "Conv", inputs, n, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
            group=layer.attr("groups"),
        )  # fmt: skip

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
    builder.seq = workload.input_shape[0]
    shapes = infer_shapes(workload)
    builder.ranks[values[INPUT]] = len(workload.input_shape)
    for layer in workload.layers:
        values[layer.name] = builder.layer(layer, [values[n] for n in layer.inputs])
        builder.ranks[values[layer.name]] = len(shapes[layer.name])
    input_type = TensorProto.INT32 if workload.tokens else TensorProto.FLOAT
    batch = "batch"  # symbolic: the same graph serves the workload's batch and batch 1
    graph = helper.make_graph(
        builder.nodes,
        workload.name,
        [helper.make_tensor_value_info(INPUT, input_type, [batch, *workload.input_shape])],
        [
            helper.make_tensor_value_info(
                values[workload.layers[-1].name],
                TensorProto.FLOAT,
                [batch, *logits_shape(workload)],
            )
        ],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
