"""Self-attention, however an exporter spelled it (torch.onnx's decomposed scaled dot-product
attention: projections, head reshapes and transposes, scales on q and k or on the scores, an
additive mask, Softmax, a NaN guard): found from each Softmax, its weights read from the four
projections, and fused into one node only where the subgraph computes what the spec's attention
layer does, checked numerically with onnx's reference evaluator on a random input."""

from __future__ import annotations

import itertools

import numpy as np
import onnx

from dlarena.importer.blocks import between, replace_block, run_block, walk
from dlarena.importer.graph import Graph
from dlarena.spec.model import ATTENTION_PARTS, Layer
from dlarena.spec.ops import OPS

MASKS = ("none", "causal")  # a padding mask reads token ids: an input the block has not


def fuse_attention(graph: Graph) -> None:
    """Each Softmax inside a self-attention block: the block becomes one dlarena Attention
    node, its weights constants named '<output>:q_kernel' and so on."""
    for softmax in [n for n in graph.nodes if n.op_type == "Softmax"]:
        if any(node is softmax for node in graph.nodes):
            _fuse_one(graph, softmax)


def _weight(graph: Graph, node: onnx.NodeProto) -> np.ndarray | None:
    """The (in, out) weight of a MatMul by a constant matrix."""
    if node.op_type != "MatMul" or node.input[1] not in graph.constants:
        return None
    value = graph.constants[node.input[1]]
    return value if value.ndim == 2 else None


def _stops(graph: Graph, node: onnx.NodeProto) -> bool:
    return _weight(graph, node) is not None


def _projections(graph: Graph, start: list[str], up: bool) -> list[onnx.NodeProto]:
    """The nearest MatMuls by a constant matrix above or below the tensors `start`."""
    return [n for n in walk(graph, start, up, stop=_stops) if _weight(graph, n) is not None]


def _bias(graph: Graph, node: onnx.NodeProto, width: int) -> tuple[np.ndarray, str]:
    """The bias added right after a projection (zeros where there is none), and the tensor
    that carries the projection's result."""
    after = graph.consumers(node.output[0])
    if len(after) == 1 and after[0].op_type == "Add":
        other = [n for n in after[0].input if n != node.output[0]]
        value = graph.constants.get(other[0]) if other else None
        if value is not None and value.size == width:
            return value.reshape(width).astype(np.float32), after[0].output[0]
    return np.zeros(width, np.float32), node.output[0]


def _fuse_one(graph: Graph, softmax: onnx.NodeProto) -> None:
    above = _projections(graph, [softmax.input[0]], up=True)
    below = _projections(graph, list(softmax.output), up=False)
    if len(above) != 2 or not below or above[0].input[0] != above[1].input[0]:
        return
    x, out_proj = above[0].input[0], below[0]
    values = [
        n for n in _projections(graph, [out_proj.input[0]], up=True)
        if n.input[0] == x and all(n is not a for a in above)
    ]  # fmt: skip
    if len(values) != 1 or x not in graph.shapes:
        return
    width = graph.shapes[x][-1]
    projections = [*above, values[0], out_proj]
    params = [(graph.constants[n.input[1]], *_bias(graph, n, width)) for n in projections]
    output = params[3][2]
    block = between(graph, x, output)
    if block is None:
        return
    found = _identify(graph, block, x, output, params)
    if found is None:
        return
    heads, mask, order = found
    parts = dict(zip(ATTENTION_PARTS, [params[i] for i in order], strict=True))
    for part, (kernel, bias, _) in parts.items():
        graph.constants[f"{output}:{part}_kernel"] = kernel.astype(np.float32)
        graph.constants[f"{output}:{part}_bias"] = bias
    node = onnx.helper.make_node(
        "Attention", [x], [output], name=out_proj.name, domain="dlarena", heads=heads, mask=mask
    )
    replace_block(graph, block, node)


def _identify(
    graph: Graph, block: list[onnx.NodeProto], x: str, output: str, params: list
) -> tuple[int, str, tuple[int, int, int, int]] | None:
    """(heads, mask, which projection is q, k, v, o) under which the spec's attention computes
    what the block does on a random input; None if no choice does."""
    shape = graph.shapes[x]
    sample = np.random.default_rng(0).normal(0.0, 1.0, shape).astype(np.float32)
    expected = run_block(graph, block, x, output, sample)
    if expected is None:
        return None
    width = shape[-1]
    for heads, mask, order in itertools.product(
        _heads(graph, block, width), MASKS, ((0, 1, 2, 3), (1, 0, 2, 3))
    ):
        attrs = (("bias", True), ("heads", heads), ("mask", mask))
        layer = Layer("a", "attention", ("input",), attrs)
        weights = {}
        for part, i in zip(ATTENTION_PARTS, order, strict=True):
            weights[f"a.{part}_kernel"] = params[i][0].astype(np.float64)
            weights[f"a.{part}_bias"] = params[i][1].astype(np.float64)
        ours, _ = OPS["attention"].forward(layer, weights, [sample.astype(np.float64)], False)
        if np.allclose(ours, expected, rtol=1e-4, atol=1e-5):
            return heads, mask, order
    return None


def _heads(graph: Graph, block: list[onnx.NodeProto], width: int) -> list[int]:
    """Head counts to try: what the block's head reshape says (batch, time, heads, width /
    heads), and every other divisor of the width after it."""
    hints = [
        shape[2]
        for n in block
        if n.op_type == "Reshape"
        and len(shape := graph.shapes.get(n.output[0], ())) == 4
        and shape[2] * shape[3] == width
    ]
    return [*hints[:1], *(h for h in range(1, width + 1) if width % h == 0 and h not in hints[:1])]
