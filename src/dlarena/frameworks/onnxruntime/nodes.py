"""The ONNX graph being built: its nodes, its initializers and what the builders need to know
about the values so far."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dlarena.frameworks.base import Arrays


class Nodes:
    """Accumulates ONNX nodes and initializers for the spec's layer graph (NCHW inside)."""

    def __init__(self, weights: Arrays):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.seq = 0  # the sequence length of token inputs (a causal mask is that square)
        self.ranks: dict[str, int] = {}  # value name -> rank per sample (3: an NCHW image)

    def const(self, name: str, value: np.ndarray | np.generic) -> str:
        array = np.asarray(value)  # a scalar stays 0-d (np.ascontiguousarray makes it 1-d)
        array = array if array.ndim == 0 else np.ascontiguousarray(array)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def image(self, value: str) -> bool:
        return self.ranks.get(value, 0) == 3
