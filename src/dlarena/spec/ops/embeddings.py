"""Lookups: `embedding` (token ids -> rows of a (vocab, units) table, plus a learned position
row each unless `positions` is off) and `embedding_bag` (a recommender's id columns
[start, start + size) of a flat input -> the sum or mean of their rows)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.ops.base import REQUIRED, Arrays, Op, Params, Shape, columns


def _embedding_reads(workload: Workload, layer: Layer, where: str) -> bool:
    if not workload.tokens or layer.inputs != (INPUT,):
        raise SpecError(
            f"{where}: an embedding reads the token ids: give the spec a vocab_size and the "
            "layer inputs: [input]"
        )
    return True


def _embedding_params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    units = layer.attr("units")
    positions = [("positions", (workload.input_shape[0], units))] if layer.attr("positions") else []
    return [("table", (workload.vocab_size, units)), *positions]


def _embedding(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    ids = ins[0].astype(np.int64)
    out = p[f"{layer.name}.table"][ids]
    if layer.attr("positions"):
        out = out + p[f"{layer.name}.positions"][None]
    return out, ids


def _embedding_back(layer: Layer, p: Arrays, ids: Any, dy: np.ndarray, grads: Arrays) -> list:
    key = f"{layer.name}.table"
    table = grads.get(key, np.zeros_like(p[key]))  # a tied head may have added its share
    np.add.at(table, ids, dy)
    grads[key] = table
    if layer.attr("positions"):
        grads[f"{layer.name}.positions"] = dy.sum(axis=0)
    return [None]


EMBEDDING = Op(
    attrs={"units": ("count", REQUIRED), "positions": ("bool", True)},
    shape=lambda layer, ins, where: (*ins[0], layer.attr("units")),
    params=_embedding_params,
    # the lookup is free; the position add 1 per element
    flops=lambda layer, ins, out: math.prod(out) if layer.attr("positions") else 0,
    forward=_embedding,
    backward=_embedding_back,
    reads_input=_embedding_reads,
)


def _bag_reads(workload: Workload, layer: Layer, where: str) -> bool:
    """It reads id columns of the input (and, like any layer, not token ids)."""
    if layer.inputs != (INPUT,):
        raise SpecError(f"{where}: an embedding bag reads id columns of the input: inputs [input]")
    return False


def _bag_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    columns(layer, ins[0], where)
    return (layer.attr("units"),)


def _bag(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    start = layer.attr("start")
    ids = ins[0][:, start : start + layer.attr("size")].astype(np.int64)
    rows = p[f"{layer.name}.table"][ids]
    return (rows.mean(axis=1) if layer.attr("mode") == "mean" else rows.sum(axis=1)), ids


def _bag_back(layer: Layer, p: Arrays, ids: Any, dy: np.ndarray, grads: Arrays) -> list:
    table = np.zeros_like(p[f"{layer.name}.table"])
    share = dy / ids.shape[1] if layer.attr("mode") == "mean" else dy
    np.add.at(table, ids, np.broadcast_to(share[:, None, :], (*ids.shape, dy.shape[-1])))
    grads[f"{layer.name}.table"] = table
    return [None]


EMBEDDING_BAG = Op(
    attrs={
        "vocab": ("count", REQUIRED),
        "units": ("count", REQUIRED),
        "start": ("offset", 0),
        "size": ("count", 1),
        "mode": (("sum", "mean"), "sum"),
    },
    shape=_bag_shape,
    params=lambda layer, ins, out, w: [("table", (layer.attr("vocab"), layer.attr("units")))],
    # the lookups are free; summing a bag of L rows: (L - 1) D
    flops=lambda layer, ins, out: (layer.attr("size") - 1) * layer.attr("units"),
    forward=_bag,
    backward=_bag_back,
    reads_input=_bag_reads,
)
