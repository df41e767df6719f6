"""Dense layers: `dense` (x @ W + b, over the last axis) and `tied_logits` (x @ table^T of an
earlier embedding: a language model's head sharing its input table)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Layer
from dlarena.spec.ops.base import (
    REQUIRED,
    Arrays,
    Op,
    Shape,
    linear_grads,
    with_bias,
)


def _dense_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if len(ins[0]) not in (1, 2):
        raise SpecError(
            f"{where}: dense needs features or a sequence of them, got {ins[0]}; pool it first"
        )
    return (*ins[0][:-1], layer.attr("units"))


def _dense(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = ins[0] @ p[f"{layer.name}.kernel"]
    if layer.attr("bias"):
        out = out + p[f"{layer.name}.bias"]
    return out, ins[0]


def _dense_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    linear_grads(grads, f"{layer.name}.kernel", f"{layer.name}.bias", x, dy, layer.attr("bias"))
    return [dy @ p[f"{layer.name}.kernel"].T]


DENSE = Op(
    attrs={"units": ("count", REQUIRED), "bias": ("bool", True)},
    shape=_dense_shape,
    params=lambda layer, ins, out, w: with_bias(layer, (ins[-1], layer.attr("units")), out),
    flops=lambda layer, ins, out: math.prod(out) * (2 * ins[0][-1] + int(layer.attr("bias"))),
    forward=_dense,
    backward=_dense_back,
)


def _tied_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    """`ins` ends with the (vocab, units) table (spec/shapes.py adds it)."""
    vocab, units = ins[-1]
    if ins[0][-1] != units:
        raise SpecError(
            f"{where}: a head tied to a {units}-wide embedding needs {units} features, "
            f"got {ins[0][-1]}"
        )
    return (*ins[0][:-1], vocab)


def _tied_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    key = f"{layer.attr('embedding')}.table"
    flat_x, flat_dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads[key] = grads.get(key, 0.0) + flat_dy.T @ flat_x
    return [dy @ p[key]]


TIED_LOGITS = Op(
    attrs={"embedding": ("identifier", REQUIRED)},
    shape=_tied_shape,
    flops=lambda layer, ins, out: math.prod(out) * 2 * ins[0][-1],
    forward=lambda layer, p, ins, training: (
        ins[0] @ p[f"{layer.attr('embedding')}.table"].T,
        ins[0],
    ),
    backward=_tied_back,
)
