"""Blocks of an ONNX graph that one spec layer replaces: the nodes between a tensor and a
later one, run on a sample with onnx's reference evaluator (a pattern is fused only where the
block computes what the layer does), and swapped for the one node."""

from __future__ import annotations

import collections
from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from dlarena.importer.graph import Graph

Stop = Callable[[Graph, onnx.NodeProto], bool]


def walk(
    graph: Graph, start: list[str], up: bool, stop: Stop | None = None, most: int | None = None
) -> list[onnx.NodeProto]:
    """Nodes above (producers) or below (consumers) the tensors `start`, breadth first, at most
    `most` of them; a node `stop` says yes to is reached but not passed."""
    producers = graph.producers()
    seen: dict[int, onnx.NodeProto] = {}
    names = collections.deque(start)
    while names and (most is None or len(seen) < most):
        name = names.popleft()
        nodes = ([producers[name]] if name in producers else []) if up else graph.consumers(name)
        for node in nodes:
            if id(node) in seen:
                continue
            seen[id(node)] = node
            if not (stop and stop(graph, node)):
                names.extend(node.input if up else node.output)
    return list(seen.values())[:most]


def between(graph: Graph, x: str, output: str) -> list[onnx.NodeProto] | None:
    """The nodes on paths from `x` to `output`, in graph order, if nothing else leaks out of
    them or feeds them data."""
    below = {id(n) for n in walk(graph, [x], up=False)}
    above = {id(n) for n in walk(graph, [output], up=True)}
    block = [n for n in graph.nodes if id(n) in below and id(n) in above]
    inside = {id(n) for n in block}
    made = {out for n in block for out in n.output}
    for node in block:
        if any(i and i != x and i not in made and i not in graph.constants for i in node.input):
            return None
        for out in node.output:
            outside = [u for u in graph.consumers(out) if id(u) not in inside]
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
    graph.replace(block, node)
