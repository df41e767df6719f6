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
from dlarena.spec.shapes import infer_shapes, logits_shape

OPSET = 17


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers for the spec's layer graph (NCHW inside)."""

    def __init__(self, weights: Arrays):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.seq = 0  # the sequence length of token inputs (a causal mask is that square)
        self.ranks: dict[str, int] = {}  # value name -> rank per sample (3: an NCHW image)

    def const(self, name: str, value: np.ndarray) -> str:
        array = np.asarray(value)  # a scalar stays 0-d (np.ascontiguousarray makes it 1-d)
        array = array if array.ndim == 0 else np.ascontiguousarray(array)
        self.initializers.append(numpy_helper.from_array(array, name))
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
            return self._embedding(layer, x)
        if layer.op == "layer_norm":
            gamma, beta = (
                self.const(f"{n}.{k}", self.weights[f"{n}.{k}"]) for k in ("gamma", "beta")
            )
            return self.node(
                "LayerNormalization", [x, gamma, beta], n, axis=-1, epsilon=layer.attr("epsilon")
            )
        if layer.op == "attention":
            return self._attention(layer, ins)
        if layer.op == "lstm":
            return self._lstm(layer, x)
        if layer.op == "slice":
            return self._columns(n, x, layer.attr("start"), layer.attr("size"))
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
        return self.node({"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}[layer.op], [x], n)

    def _embedding(self, layer: Layer, ids: str) -> str:
        n = layer.name
        table = self.const(f"{n}.table", self.weights[f"{n}.table"])
        if not layer.attr("positions"):
            return self.node("Gather", [table, ids], n)
        tokens = self.node("Gather", [table, ids], f"{n}_tokens")
        return self.node(
            "Add", [tokens, self.const(f"{n}.positions", self.weights[f"{n}.positions"])], n
        )

    def _project(self, layer: Layer, x: str, part: str) -> str:
        n = f"{layer.name}.{part}"
        out = self.node(
            "MatMul", [x, self.const(f"{n}_kernel", self.weights[f"{n}_kernel"])], f"{n}_mm"
        )
        if not layer.attr("bias"):
            return out
        return self.node(
            "Add", [out, self.const(f"{n}_bias", self.weights[f"{n}_bias"])], f"{n}_out"
        )

    def _attention(self, layer: Layer, ins: list[str]) -> str:
        """Scaled dot-product attention from MatMul, Reshape, Transpose and Softmax; a masked
        score gets -1e9 before the softmax (exp() of it is exactly 0 in float32)."""
        n, x, heads = layer.name, ins[0], layer.attr("heads")
        width = self.weights[f"{n}.q_kernel"].shape[0]
        split = self.const(f"{n}.split", np.array([0, 0, heads, width // heads], np.int64))

        def heads_of(part: str, perm: list[int]) -> str:
            shaped = self.node("Reshape", [self._project(layer, x, part), split], f"{n}_{part}_4d")
            return self.node("Transpose", [shaped], f"{n}_{part}_heads", perm=perm)

        q, k, v = (
            heads_of("q", [0, 2, 1, 3]),
            heads_of("k", [0, 2, 3, 1]),
            heads_of("v", [0, 2, 1, 3]),
        )
        scale = self.const(f"{n}.scale", np.float32(1 / math.sqrt(width // heads)))
        scores = self.node("Mul", [self.node("MatMul", [q, k], f"{n}_qk"), scale], f"{n}_scores")
        if layer.attr("mask") == "padding":
            pad = self.node(
                "Cast",
                [
                    self.node(
                        "Equal", [ins[1], self.const(f"{n}.pad_id", np.int32(0))], f"{n}_is_pad"
                    )
                ],
                f"{n}_pad",
                to=TensorProto.FLOAT,
            )
            bias = self.node(
                "Mul", [pad, self.const(f"{n}.masked", np.float32(-1e9))], f"{n}_pad_bias"
            )
            axes = self.const(f"{n}.mask_axes", np.array([1, 2], np.int64))
            bias = self.node("Unsqueeze", [bias, axes], f"{n}_mask")
            scores = self.node("Add", [scores, bias], f"{n}_masked")
        elif layer.attr("mask") == "causal":
            seq = self.seq
            causal = (1.0 - np.tril(np.ones((seq, seq), np.float32))) * np.float32(-1e9)
            scores = self.node("Add", [scores, self.const(f"{n}.causal", causal)], f"{n}_masked")
        probs = self.node("Softmax", [scores], f"{n}_probs", axis=-1)
        context = self.node(
            "Transpose",
            [self.node("MatMul", [probs, v], f"{n}_ctx")],
            f"{n}_ctx_t",
            perm=[0, 2, 1, 3],
        )
        merge = self.const(f"{n}.merge", np.array([0, 0, width], np.int64))
        return self._project(layer, self.node("Reshape", [context, merge], f"{n}_context"), "o")

    def _lstm(self, layer: Layer, x: str) -> str:
        """ONNX's LSTM (time major) with its gate order i, o, f, c: the canonical i, f, g, o
        blocks reordered; its second bias (the recurrent one) zero."""
        n, units = layer.name, layer.attr("units")
        order = np.concatenate([np.arange(k * units, (k + 1) * units) for k in (0, 3, 1, 2)])

        def onnx_weight(kind: str) -> np.ndarray:
            return self.weights[f"{n}.{kind}"].T[order][None]  # (1, 4H, in)

        bias = np.concatenate([self.weights[f"{n}.gate_bias"][order], np.zeros(4 * units)])
        inputs = [
            self.node("Transpose", [x], f"{n}_time_major", perm=[1, 0, 2]),
            self.const(f"{n}.W", onnx_weight("input_kernel")),
            self.const(f"{n}.R", onnx_weight("recurrent_kernel")),
            self.const(f"{n}.B", bias[None].astype(np.float32)),
        ]
        outputs = [f"{n}_Y", f"{n}_Y_h"]
        self.nodes.append(
            helper.make_node("LSTM", inputs, outputs, name=f"{n}_lstm", hidden_size=units)
        )
        if not layer.attr("sequence"):  # Y_h (1, B, H)
            return self.node("Squeeze", [outputs[1], self.const(f"{n}.axis0", np.array([0]))], n)
        batch_major = self.node("Transpose", [outputs[0]], f"{n}_batch_major", perm=[2, 0, 1, 3])
        merge = self.const(f"{n}.merge", np.array([0, 0, units], np.int64))
        return self.node("Reshape", [batch_major, merge], f"{n}_out")

    def image(self, value: str) -> bool:
        return self.ranks.get(value, 0) == 3

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
