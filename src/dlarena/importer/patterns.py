"""Patterns exporters write for one spec layer, fused into one node before mapping: the exact
GELU spelled with Erf (x * 0.5 * (1 + erf(x / sqrt 2)), in any order of its products) and a
MatMul followed by the Add of a bias (a dense layer); self-attention (attention.py) and
layer norm written out (norms.py)."""

from __future__ import annotations

import math

import numpy as np
import onnx

from dlarena.importer.attention import fuse_attention
from dlarena.importer.graph import Graph
from dlarena.importer.norms import fuse_gelu_tanh, fuse_layer_norm

SQRT2 = math.sqrt(2.0)


def fuse(graph: Graph) -> None:
    """Rewrites `graph.nodes` in place: each pattern becomes the one node that means it
    (attention first: its projections are MatMul + Add too)."""
    fuse_layer_norm(graph)
    fuse_gelu_tanh(graph)
    fuse_attention(graph)
    _fuse_gelu(graph)
    _fuse_matmul_add(graph)


def _scalar(graph: Graph, name: str) -> float | None:
    value = graph.constants.get(name)
    if value is None or value.size != 1:
        return None
    return float(value.reshape(()))


def _producers(graph: Graph) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.nodes for out in node.output}


def _only_consumer(graph: Graph, name: str) -> onnx.NodeProto | None:
    found = graph.consumers(name)
    return found[0] if len(found) == 1 and name != graph.output else None


def _replace(graph: Graph, gone: list[onnx.NodeProto], new: onnx.NodeProto, at: onnx.NodeProto):
    index = next(i for i, node in enumerate(graph.nodes) if node is at)
    graph.nodes[index] = new
    graph.nodes[:] = [node for node in graph.nodes if all(node is not g for g in gone)]


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
        producers = _producers(graph)
        scale = producers.get(erf.input[0])
        x = _erf_argument(graph, scale)
        plus = _only_consumer(graph, erf.output[0])
        if x is None or plus is None or plus.op_type != "Add" or not _only_consumer(
            graph, erf.input[0]
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
                _replace(graph, [scale, erf, plus, *muls], gelu, final)  # type: ignore[list-item]
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
        _replace(graph, [add], gemm, matmul)
