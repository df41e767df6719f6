"""Blocks of an ONNX graph that one spec layer replaces: the nodes between a tensor and a
later one, run on a sample with onnx's reference evaluator (a pattern is fused only where the
block computes what the layer does), and swapped for the one node."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from dlarena.importer.graph import Graph

Stop = Callable[[Graph, onnx.NodeProto], bool]


def walk(
    graph: Graph, start: list[str], up: bool, stop: Stop | None = None
) -> list[onnx.NodeProto]:
    """Nodes above (producers) or below (consumers) the tensors `start`, breadth first; a node
    `stop` says yes to is reached but not passed."""
    producers = {out: node for node in graph.nodes for out in node.output}
    seen: list[onnx.NodeProto] = []
    names = list(start)
    while names:
        name = names.pop(0)
        nodes = [producers[name]] if up and name in producers else []
        nodes = nodes if up else graph.consumers(name)
        for node in nodes:
            if any(node is s for s in seen):
                continue
            seen.append(node)
            if not (stop and stop(graph, node)):
                names += list(node.input if up else node.output)
    return seen


def between(graph: Graph, x: str, output: str) -> list[onnx.NodeProto] | None:
    """The nodes on paths from `x` to `output`, in graph order, if nothing else leaks out of
    them or feeds them data."""
    below = walk(graph, [x], up=False)
    above = walk(graph, [output], up=True)
    block = [n for n in graph.nodes if any(n is b for b in below) and any(n is a for a in above)]
    made = {out for n in block for out in n.output}
    for node in block:
        if any(i and i != x and i not in made and i not in graph.constants for i in node.input):
            return None
        for out in node.output:
            outside = [u for u in graph.consumers(out) if all(u is not b for b in block)]
            if out != output and (out == graph.output or outside):
                return None
    return block


def run_block(
    graph: Graph, block: list[onnx.NodeProto], x: str, output: str, sample: np.ndarray
) -> np.ndarray | None:
    used = {i for n in block for i in n.input if i in graph.constants}
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            block, "block",
            [onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, sample.shape)],
            [onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
            [numpy_helper.from_array(np.asarray(graph.constants[n]), n) for n in sorted(used)],
        ),  # fmt: skip
        opset_imports=graph.opsets,
    )
    try:
        outputs = list(ReferenceEvaluator(model).run(None, {x: sample}))
        return np.asarray(outputs[0], np.float64)
    except Exception:  # the reference evaluator cannot run it: not fused, named by the mapper
        return None


def replace_block(graph: Graph, block: list[onnx.NodeProto], node: onnx.NodeProto) -> None:
    """The block's nodes out, `node` in where the last of them was."""
    index = max(i for i, n in enumerate(graph.nodes) if any(n is b for b in block))
    graph.nodes[index] = node
    graph.nodes[:] = [n for n in graph.nodes if all(n is not b for b in block)]
