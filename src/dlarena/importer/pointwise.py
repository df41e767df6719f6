"""Elementwise ONNX nodes as spec layers: activations (Relu, Tanh, Sigmoid, Gelu, Clip as ReLU6
or ReLU) and a product with (or quotient by) one scalar constant (the spec's scale)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import onnx

from dlarena.importer.graph import attributes
from dlarena.importer.mapping import ANY, Mapping, refused


def activation(op: str) -> Callable[[Mapping, onnx.NodeProto], None]:
    def mapper(m: Mapping, node: onnx.NodeProto) -> None:
        x = m.place(node.input[0], node, ANY)
        chosen = op
        if op == "gelu" and attributes(node).get("approximate", "none") == "tanh":
            chosen = "gelu_tanh"
        name = m.layer(node, chosen, [x.layer])
        m.places[node.output[0]] = dataclasses.replace(x, layer=name)

    return mapper


def scale(m: Mapping, node: onnx.NodeProto) -> None:
    """x times (Mul) or over (Div) one scalar constant: the spec's scale (a scaled residual
    branch); a product of two tensors or by a per-element constant is refused."""
    consts = [n for n in node.input if n in m.graph.constants]
    value = m.graph.constants[consts[0]] if len(consts) == 1 else None
    if value is None or value.size != 1 or (node.op_type == "Div" and node.input[0] in consts):
        raise refused(node, "only x times or over one scalar constant maps (the spec's scale)")
    factor = float(np.asarray(value, np.float64).reshape(()))
    x = m.place(next(n for n in node.input if n not in consts), node, ANY)
    named = onnx.helper.make_node(node.op_type, [x.layer], node.output, name=node.name)
    name = m.layer(
        named, "scale", [x.layer], factor=1.0 / factor if node.op_type == "Div" else factor
    )
    m.places[node.output[0]] = dataclasses.replace(x, layer=name)


def clip(m: Mapping, node: onnx.NodeProto) -> None:
    """Clip to [0, 6] (ReLU6, as MobileNet exports it) or to [0, inf) (a ReLU); its bounds are
    the attributes min and max (opset < 11) or its constant inputs."""
    found = attributes(node)
    low, high = found.get("min", float("-inf")), found.get("max", float("inf"))
    for index, name in ((1, "min"), (2, "max")):
        if len(node.input) > index and node.input[index]:
            value = m.const(node.input[index], node)
            low, high = (float(value), high) if name == "min" else (low, float(value))
    ops = {(0.0, 6.0): "relu6", (0.0, float("inf")): "relu"}
    if (low, high) not in ops:
        raise refused(node, f"Clip to [{low:g}, {high:g}]; the spec has ReLU6 ([0, 6]) and ReLU")
    data_only = onnx.helper.make_node("Clip", node.input[:1], node.output, name=node.name)
    activation(ops[(low, high)])(m, data_only)  # named after its op, not its bounds
