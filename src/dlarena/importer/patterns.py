"""Patterns exporters write for one spec layer, fused into one node before mapping: the exact
GELU spelled with Erf (x * 0.5 * (1 + erf(x / sqrt 2)), in any order of its products) and a
MatMul followed by the Add of a bias (a dense layer); self-attention (attention.py) and
layer norm written out (norms.py)."""

from __future__ import annotations

import math

import numpy as np
import onnx

from dlarena.importer.attention import fuse_attention
from dlarena.importer.graph import Graph, attributes
from dlarena.importer.norms import fuse_gelu_tanh, fuse_layer_norm

SQRT2 = math.sqrt(2.0)


def fuse(graph: Graph) -> None:
    """Rewrites `graph.nodes` in place: each pattern becomes the one node that means it
    (attention first: its projections are MatMul + Add too)."""
    _take_off_output_softmax(graph)
    fuse_layer_norm(graph)
    fuse_gelu_tanh(graph)
    fuse_attention(graph)
    _fold_affine_into_conv(graph)
    _fuse_gelu(graph)
    _fuse_matmul_add(graph)


_OUTPUT_SOFTMAX = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}


def _take_off_output_softmax(graph: Graph) -> None:
    """A classifier whose output is the Softmax or LogSoftmax of its logits (batch, classes):
    the spec ends in the logits, as its loss expects (it applies softmax itself), and the graph
    remembers what the file outputs, so the check against the original applies it too."""
    node = graph.producers().get(graph.output)
    if node is None or node.op_type not in _OUTPUT_SOFTMAX:
        return
    axis = attributes(node).get("axis", -1)  # -1 (opset 13) or 1: the classes of (batch, classes)
    if len(graph.shapes[node.input[0]]) != 2 or axis not in (1, -1):
        return  # over another axis: left to the mapper, which names it
    graph.nodes[:] = [n for n in graph.nodes if n is not node]
    graph.output, graph.applies = node.input[0], _OUTPUT_SOFTMAX[node.op_type]
    graph.forget()


def _scalar(graph: Graph, name: str) -> float | None:
    value = graph.constants.get(name)
    if value is None or value.size != 1:
        return None
    return float(value.reshape(()))


def _only_consumer(graph: Graph, name: str) -> onnx.NodeProto | None:
    found = graph.consumers(name)
    return found[0] if len(found) == 1 and name != graph.output else None


def _erf_argument(graph: Graph, node: onnx.NodeProto | None) -> str | None:
    """x, where `node` computes x / sqrt(2) or x * (1 / sqrt(2))."""
    if node is None or node.op_type not in ("Div", "Mul") or len(node.input) != 2:
        return None
    x, c = node.input
    scale = _scalar(graph, c)
    if node.op_type == "Mul" and scale is None:
        x, c = c, x
        scale = _scalar(graph, c)
    if scale is None:
        return None
    wanted = SQRT2 if node.op_type == "Div" else 1.0 / SQRT2
    return x if math.isclose(scale, wanted, rel_tol=1e-5) else None


def _product(
    graph: Graph, node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]
) -> tuple[list[str], float, list[onnx.NodeProto]]:
    """The factors of a tree of Muls: tensor names, the product of the scalar constants, and
    the Mul nodes (each used only inside the tree)."""
    names: list[str] = []
    constant, nodes = 1.0, [node]
    for name in node.input:
        scalar = _scalar(graph, name)
        inner = producers.get(name)
        if scalar is not None:
            constant *= scalar
        elif inner is not None and inner.op_type == "Mul" and _only_consumer(graph, name):
            more, factor, below = _product(graph, inner, producers)
            names += more
            constant *= factor
            nodes += below
        else:
            names.append(name)
    return names, constant, nodes


def _fuse_gelu(graph: Graph) -> None:
    for erf in [n for n in graph.nodes if n.op_type == "Erf"]:
        producers = graph.producers()
        scale = producers.get(erf.input[0])
        x = _erf_argument(graph, scale)
        plus = _only_consumer(graph, erf.output[0])
        if (
            x is None
            or plus is None
            or plus.op_type != "Add"
            or not _only_consumer(graph, erf.input[0])
        ):
            continue
        if sorted(_scalar(graph, n) or 0.0 for n in plus.input) != [0.0, 1.0]:
            continue
        for final in [n for n in graph.nodes if n.op_type == "Mul"]:
            names, constant, muls = _product(graph, final, producers)
            if sorted(names) == sorted([x, plus.output[0]]) and math.isclose(constant, 0.5):
                gelu = onnx.helper.make_node(
                    "Gelu", [x], [final.output[0]], name=final.name or erf.name
                )
                graph.replace([scale, erf, plus, *muls], gelu, final)  # type: ignore[list-item]
                break


def _fuse_matmul_add(graph: Graph) -> None:
    for matmul in [n for n in graph.nodes if n.op_type == "MatMul"]:
        weight = graph.constants.get(matmul.input[1])
        add = _only_consumer(graph, matmul.output[0])
        if weight is None or weight.ndim != 2 or add is None or add.op_type != "Add":
            continue
        other = [n for n in add.input if n != matmul.output[0]]
        bias = graph.constants.get(other[0]) if len(other) == 1 else None
        if bias is None or bias.size != weight.shape[1]:
            continue
        name = f"{other[0]}:bias"
        graph.constants[name] = np.asarray(bias, np.float32).reshape(-1)
        gemm = onnx.helper.make_node(
            "Gemm", [matmul.input[0], matmul.input[1], name], [add.output[0]], name=matmul.name
        )
        graph.replace([add], gemm, matmul)


def _fold_affine_into_conv(graph: Graph) -> None:
    """A per-channel Mul and Add right after a convolution (the batch norm tf2onnx folds for
    inference) multiplied and added into its kernel and bias: the file has no batch norm left,
    so neither has the spec."""
    for conv in [n for n in graph.nodes if n.op_type == "Conv"]:
        kernel = graph.constants.get(conv.input[1])
        has_bias = len(conv.input) > 2 and bool(conv.input[2])
        bias = graph.constants.get(conv.input[2]) if has_bias else None
        if kernel is None or (has_bias and bias is None):
            continue
        bias = np.zeros(kernel.shape[0], np.float32) if bias is None else bias.reshape(-1)
        gone: list[onnx.NodeProto] = []
        output = conv.output[0]
        for op in ("Mul", "Add"):
            found = _per_channel(graph, output, op, kernel.shape[0])
            if found is None:
                break
            node, value = found
            if op == "Mul":
                kernel, bias = kernel * value.reshape(-1, 1, 1, 1), bias * value
            else:
                bias = bias + value
            gone.append(node)
            output = node.output[0]
        if gone:
            graph.constants[f"{output}:kernel"], graph.constants[f"{output}:bias"] = kernel, bias
            inputs = [conv.input[0], f"{output}:kernel", f"{output}:bias"]
            folded = onnx.helper.make_node("Conv", inputs, [output], name=conv.name)
            folded.attribute.extend(conv.attribute)
            graph.replace(gone, folded, conv)


def _per_channel(
    graph: Graph, name: str, op: str, channels: int
) -> tuple[onnx.NodeProto, np.ndarray] | None:
    """The only consumer of `name`, where it is `op` with a constant of one value per channel."""
    after = _only_consumer(graph, name)
    if after is None or after.op_type != op:
        return None
    other = [n for n in after.input if n != name]
    value = graph.constants.get(other[0]) if len(other) == 1 else None
    # one value per channel of NCHW: (C, 1, 1) or (1, C, 1, 1); a (C,) would scale the width
    if value is None or value.ndim < 3 or value.shape[-2:] != (1, 1) or value.size != channels:
        return None
    return after, value.reshape(-1).astype(np.float32)
