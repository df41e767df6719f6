"""Layers older exporters write out op by op, fused back into one node only where the block
computes what the spec's layer does on a random input (onnx's reference evaluator): layer
normalization (ReduceMean, Sub, Pow, Add of epsilon, Sqrt, Div, then Mul by gamma and Add of
beta), found from its first ReduceMean; GELU's tanh approximation, found from its Tanh."""

from __future__ import annotations

import numpy as np
import onnx

from dlarena.importer.blocks import between, replace_block, run_block, walk
from dlarena.importer.graph import Graph


def fuse_layer_norm(graph: Graph) -> None:
    for mean in [n for n in graph.nodes if n.op_type == "ReduceMean"]:
        if any(node is mean for node in graph.nodes):
            _fuse_one(graph, mean)


def _vector(graph: Graph, node: onnx.NodeProto, op: str, width: int) -> str | None:
    """The constant a node of type `op` applies, where it is a vector of the width."""
    if node.op_type != op:
        return None
    found = [n for n in node.input if n in graph.constants and graph.constants[n].size == width]
    return found[0] if len(found) == 1 and width > 1 else None


def _fuse_one(graph: Graph, mean: onnx.NodeProto) -> None:
    x = mean.input[0]
    if x in graph.constants or x not in graph.shapes:
        return
    width = graph.shapes[x][-1]

    def scale(g: Graph, node: onnx.NodeProto) -> bool:
        return _vector(g, node, "Mul", width) is not None

    scales = [n for n in walk(graph, list(mean.output), up=False, stop=scale) if scale(graph, n)]
    after = graph.consumers(scales[0].output[0]) if scales else []
    if len(after) != 1 or _vector(graph, after[0], "Add", width) is None:
        return
    gamma, beta = _vector(graph, scales[0], "Mul", width), _vector(graph, after[0], "Add", width)
    output = after[0].output[0]
    block = between(graph, x, output)
    if block is None or gamma is None or beta is None:
        return
    sample = np.random.default_rng(0).normal(0.0, 1.0, graph.shapes[x]).astype(np.float32)
    expected = run_block(graph, block, x, output, sample)
    for epsilon in _epsilons(graph, block):
        if expected is not None and np.allclose(
            _layer_norm(sample, graph.constants[gamma], graph.constants[beta], epsilon),
            expected, rtol=1e-4, atol=1e-5,
        ):  # fmt: skip
            node = onnx.helper.make_node(
                "LayerNormalization", [x, gamma, beta], [output], name=mean.name,
                axis=-1, epsilon=epsilon,
            )  # fmt: skip
            replace_block(graph, block, node)
            return


def _epsilons(graph: Graph, block: list[onnx.NodeProto]) -> list[float]:
    """The small scalars the block adds: the candidates for epsilon."""
    found = [
        float(graph.constants[n].reshape(()))
        for node in block if node.op_type == "Add"
        for n in node.input if n in graph.constants and graph.constants[n].size == 1
    ]  # fmt: skip
    return [e for e in found if 0.0 < e < 1.0]


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> np.ndarray:
    x = x.astype(np.float64)
    normal = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + epsilon)
    return normal * gamma.reshape(-1) + beta.reshape(-1)


def fuse_gelu_tanh(graph: Graph) -> None:
    """GELU's tanh approximation written out (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
    in any order of its products): from each Tanh, the data tensor x it is computed from and
    the first tensor below it that equals the approximation of x, fused into one Gelu node."""
    for tanh in [n for n in graph.nodes if n.op_type == "Tanh"]:
        if any(node is tanh for node in graph.nodes):  # not fused away by an earlier one
            _fuse_gelu_tanh(graph, tanh)


def _fuse_gelu_tanh(graph: Graph, tanh: onnx.NodeProto) -> None:
    above = walk(graph, [tanh.input[0]], up=True, most=8)
    cubes = [n for n in above if n.op_type in ("Pow", "Mul")]
    sources = [i for n in cubes for i in n.input if i not in graph.constants and i in graph.shapes]
    x = next((i for i in sources if sources.count(i) >= 2 or _cubed(graph, i, cubes)), None)
    if x is None:
        return
    sample = np.random.default_rng(0).normal(0.0, 1.0, graph.shapes[x]).astype(np.float32)
    wanted = 0.5 * sample * (1 + np.tanh(np.sqrt(2 / np.pi) * (sample + 0.044715 * sample**3)))
    for node in walk(graph, list(tanh.output), up=False, most=4):
        block = between(graph, x, node.output[0])
        found = run_block(graph, block, x, node.output[0], sample) if block else None
        if block and found is not None and np.allclose(found, wanted, rtol=1e-4, atol=1e-5):
            gelu = onnx.helper.make_node(
                "Gelu", [x], [node.output[0]], name=node.name, approximate="tanh"
            )
            replace_block(graph, block, gelu)
            return


def _cubed(graph: Graph, name: str, nodes: list[onnx.NodeProto]) -> bool:
    """Whether `name` is raised to the power 3 by one of the nodes."""
    return any(
        n.op_type == "Pow" and n.input[0] == name and n.input[1] in graph.constants
        and float(graph.constants[n.input[1]].reshape(-1)[0]) == 3.0
        for n in nodes
    )  # fmt: skip
