"""Ops that move values without computing: `slice` (columns [start, start + size) of a flat
input), `flatten` and `reshape` (features and sequences; images are flattened)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Layer
from dlarena.spec.ops.base import REQUIRED, Arrays, Op, Shape, columns, free


def _slice_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    columns(layer, ins[0], where)
    return (layer.attr("size"),)


def _slice_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    dx = np.zeros(shape)
    start = layer.attr("start")
    dx[:, start : start + layer.attr("size")] = dy
    return [dx]


SLICE = Op(
    attrs={"start": ("offset", 0), "size": ("count", REQUIRED)},
    shape=_slice_shape,
    flops=free,
    forward=lambda layer, p, ins, training: (
        ins[0][:, layer.attr("start") : layer.attr("start") + layer.attr("size")],
        ins[0].shape,
    ),
    backward=_slice_back,
)


def _reshape_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    shape, target = ins[0], tuple(layer.attr("shape"))
    if len(shape) == 3 or len(target) == 3:
        raise SpecError(f"{where}: reshape works on features and sequences; flatten images")
    if math.prod(target) != math.prod(shape):
        raise SpecError(f"{where}: cannot reshape {shape} to {target}: sizes differ")
    return target


def _reshape(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    target = layer.attr("shape") if layer.op == "reshape" else (-1,)
    return ins[0].reshape(len(ins[0]), *target), ins[0].shape


def _reshape_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    return [dy.reshape(shape)]


FLATTEN = Op(
    shape=lambda layer, ins, where: (math.prod(ins[0]),),
    flops=free,
    forward=_reshape,
    backward=_reshape_back,
)
RESHAPE = Op(
    attrs={"shape": ("dims", REQUIRED)},
    shape=_reshape_shape,
    flops=free,
    forward=_reshape,
    backward=_reshape_back,
)
