"""The spec built directly as an ONNX graph with onnx.helper: one builder method per op, the
canonical weights as initializers (NHWC inputs transposed once to NCHW), checked by onnx."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

from dlarena.frameworks.base import Arrays
from dlarena.frameworks.onnxruntime.sequences import SequenceOps
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.shapes import infer_shapes, logits_shape

OPSET = 17


class _GraphBuilder(SequenceOps):
    """One method per spec op (sequence ops: SequenceOps), found through _OPS."""

    def layer(self, layer: Layer, ins: list[str]) -> str:
        """The node computing one spec layer: its op's builder (_OPS)."""
        return _OPS[layer.op](self, layer, ins)

    def _weight(self, layer: Layer, key: str) -> str:
        return self.const(f"{layer.name}.{key}", self.weights[f"{layer.name}.{key}"])

    def _dense(self, layer: Layer, x: str) -> str:
        n, bias = layer.name, layer.attr("bias")
        out = self.node("MatMul", [x, self._weight(layer, "kernel")], f"{n}_matmul" if bias else n)
        return self.node("Add", [out, self._weight(layer, "bias")], n) if bias else out

    def _batch_norm(self, layer: Layer, x: str) -> str:
        args = [self._weight(layer, k) for k in ("gamma", "beta", "moving_mean", "moving_var")]
        return self.node(
            "BatchNormalization", [x, *args], layer.name, epsilon=layer.attr("epsilon")
        )

    def _pool(self, layer: Layer, x: str) -> str:
        op = "MaxPool" if layer.op == "max_pool" else "AveragePool"
        k, s = layer.attr("size"), layer.attr("stride")
        pads = [layer.attr("padding")] * 4 if layer.op == "max_pool" else [0] * 4
        return self.node(op, [x], layer.name, kernel_shape=[k, k], strides=[s, s], pads=pads)

    def _layer_norm(self, layer: Layer, x: str) -> str:
        gamma, beta = (self._weight(layer, k) for k in ("gamma", "beta"))
        return self.node(
            "LayerNormalization", [x, gamma, beta], layer.name, axis=-1,
            epsilon=layer.attr("epsilon"),
        )  # fmt: skip

    def _scale(self, layer: Layer, x: str) -> str:
        factor = self.const(f"{layer.name}.factor", np.float32(layer.attr("factor")))
        return self.node("Mul", [x, factor], layer.name)

    def _reshape(self, layer: Layer, x: str) -> str:
        n = layer.name
        if self.image(x):  # NCHW inside: back to the canonical NHWC order first
            x = self.node("Transpose", [x], f"{n}_nhwc", perm=[0, 2, 3, 1])
        shape = [0, *layer.attr("shape")] if layer.op == "reshape" else [0, -1]
        return self.node("Reshape", [x, self.const(f"{n}.shape", np.array(shape, np.int64))], n)

    def _tied_logits(self, layer: Layer, x: str) -> str:
        table = self.weights[f"{layer.attr('embedding')}.table"]
        transposed = self.const(f"{layer.name}.table_t", table.T.copy())
        return self.node("MatMul", [x, transposed], layer.name)

    def _relu6(self, layer: Layer, x: str) -> str:
        n = layer.name
        bounds = [self.const(f"{n}.{k}", np.float32(v)) for k, v in (("min", 0), ("max", 6))]
        return self.node("Clip", [x, *bounds], n)

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
            inputs.append(self._weight(layer, "bias"))
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


_Build = Callable[[_GraphBuilder, Layer, list[str]], str]
# op -> the builder of its node(s); ops that read one input get it as `x`; every op is here
_OPS: dict[str, _Build] = {
    "dense": lambda g, la, ins: g._dense(la, ins[0]),
    "conv2d": lambda g, la, ins: g._conv(la, ins[0]),
    "batch_norm": lambda g, la, ins: g._batch_norm(la, ins[0]),
    "max_pool": lambda g, la, ins: g._pool(la, ins[0]),
    "avg_pool": lambda g, la, ins: g._pool(la, ins[0]),
    "add": lambda g, la, ins: g.node("Add", ins, la.name),
    "global_avg_pool": lambda g, la, ins: g.node(
        "Flatten", [g.node("GlobalAveragePool", [ins[0]], f"{la.name}_pool")], la.name
    ),
    "gelu": lambda g, la, ins: g._gelu(la.name, ins[0]),
    "gelu_tanh": lambda g, la, ins: g._gelu_tanh(la.name, ins[0]),
    "embedding": lambda g, la, ins: g.embedding(la, ins[0]),
    "layer_norm": lambda g, la, ins: g._layer_norm(la, ins[0]),
    "attention": lambda g, la, ins: g.attention(la, ins),
    "lstm": lambda g, la, ins: g.lstm(la, ins[0]),
    "slice": lambda g, la, ins: g._columns(la.name, ins[0], la.attr("start"), la.attr("size")),
    "scale": lambda g, la, ins: g._scale(la, ins[0]),
    "embedding_bag": lambda g, la, ins: g._bag(la, ins[0]),
    "concat": lambda g, la, ins: g.node("Concat", ins, la.name, axis=1 if g.image(ins[0]) else -1),
    "dot_interaction": lambda g, la, ins: g._interaction(la.name, ins),
    "flatten": lambda g, la, ins: g._reshape(la, ins[0]),
    "reshape": lambda g, la, ins: g._reshape(la, ins[0]),
    "tied_logits": lambda g, la, ins: g._tied_logits(la, ins[0]),
    "dropout": lambda g, la, ins: g.node("Identity", [ins[0]], la.name),  # inference: identity
    "first_token": lambda g, la, ins: g.node(
        "Gather", [ins[0], g.const(f"{la.name}.index", np.int64(0))], la.name, axis=1
    ),
    "relu6": lambda g, la, ins: g._relu6(la, ins[0]),
    "relu": lambda g, la, ins: g.node("Relu", [ins[0]], la.name),
    "tanh": lambda g, la, ins: g.node("Tanh", [ins[0]], la.name),
    "sigmoid": lambda g, la, ins: g.node("Sigmoid", [ins[0]], la.name),
}
