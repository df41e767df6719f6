"""Ops that join branches: `add` (two equal shapes), `concat` (two or more, along the
features) and `dot_interaction` (DLRM: the first input, then the pairwise dot products of all
of them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Layer
from dlarena.spec.ops.base import MANY, Arrays, Op, Shape, free


def _add_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if ins[0] != ins[1]:
        raise SpecError(f"{where}: add needs equal shapes, got {ins[0]} and {ins[1]}")
    return ins[0]


ADD = Op(
    inputs=2,
    shape=_add_shape,
    forward=lambda layer, p, ins, training: (ins[0] + ins[1], None),
    backward=lambda layer, p, cache, dy, grads: [dy, dy],
)


def _concat_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if len({s[:-1] for s in ins}) != 1:
        raise SpecError(f"{where}: concat joins the last axis; other axes differ: {ins}")
    return (*ins[0][:-1], sum(s[-1] for s in ins))


CONCAT = Op(
    inputs=MANY,
    shape=_concat_shape,
    flops=free,
    forward=lambda layer, p, ins, training: (
        np.concatenate(ins, axis=-1),
        [x.shape[-1] for x in ins],
    ),
    backward=lambda layer, p, widths, dy, grads: np.split(dy, np.cumsum(widths)[:-1], axis=-1),
)


def _interaction_shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if len(set(ins)) != 1 or len(ins[0]) != 1:
        raise SpecError(f"{where}: dot_interaction needs vectors of one width, got {ins}")
    return (ins[0][0] + len(ins) * (len(ins) - 1) // 2,)


def _interaction_flops(layer: Layer, ins: list[Shape], out: Shape) -> int:
    """F (F - 1) / 2 dot products of width D."""
    count, width = len(ins), ins[0][0]
    return count * (count - 1) // 2 * 2 * width


def interaction_pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j in row-major order: the order every framework's interaction uses."""
    return np.triu_indices(count, k=1)


def _interaction(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    z = np.stack(ins, axis=1)  # (B, F, D)
    i, j = interaction_pairs(len(ins))
    dots = np.einsum("bfd,bgd->bfg", z, z)[:, i, j]
    return np.concatenate([ins[0], dots], axis=-1), z


def _interaction_back(layer: Layer, p: Arrays, z: Any, dy: np.ndarray, grads: Arrays) -> list:
    width = z.shape[-1]
    i, j = interaction_pairs(z.shape[1])
    dgram = np.zeros((len(z), z.shape[1], z.shape[1]))
    dgram[:, i, j] = dy[:, width:]
    dz = np.einsum("bfg,bgd->bfd", dgram + dgram.transpose(0, 2, 1), z)
    dz[:, 0] += dy[:, :width]
    return [dz[:, f] for f in range(z.shape[1])]


DOT_INTERACTION = Op(
    inputs=MANY,
    shape=_interaction_shape,
    flops=_interaction_flops,
    forward=_interaction,
    backward=_interaction_back,
)
