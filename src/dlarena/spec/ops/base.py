"""What one layer op is to dlarena (`Op`), and the helpers several ops share.

An op's attributes are declared by kind (spec/schema.py turns each kind into its validated
type), so this package needs NumPy alone: worker processes import it without pydantic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Layer, Workload

Shape = tuple[int, ...]
Arrays = dict[str, np.ndarray]
Params = list[tuple[str, Shape]]  # (kind, shape) in the canonical order

# An attribute: (kind, default); `REQUIRED` as the default: the spec must give it. A kind is a
# name spec/schema.py knows ("count", "window", "padding", "epsilon", "fraction", "bool",
# "identifier", "factor", "offset", "dims") or a tuple of the allowed strings.
Attr = tuple[str | tuple[str, ...], Any]
REQUIRED: Any = ...

ShapeRule = Callable[[Layer, list[Shape], str], Shape]
ParamRule = Callable[[Layer, Shape, Shape, Workload], Params]
FlopRule = Callable[[Layer, list[Shape], Shape], int]
Forward = Callable[[Layer, Arrays, list[np.ndarray], bool], Any]  # -> (output, cache)
Backward = Callable[[Layer, Arrays, Any, np.ndarray, Arrays], list]  # -> input gradients
MarginRule = Callable[[Layer, np.ndarray], np.ndarray]
InputRule = Callable[[Workload, Layer, str], bool]
Implied = Callable[[Callable[[str], Any]], tuple[str, ...]]  # (an attribute's value) -> inputs

SEQUENCE = (2, "a sequence (time, features)")
IMAGE = (3, "an image input (H, W, C)")
MANY = 0  # `Op.inputs`: two or more


@dataclasses.dataclass(frozen=True)
class Op:
    """One layer op: what a spec may say about it, its shapes, parameters and FLOPs, and its
    float64 reference (the forward pass with the cache its backward pass reads)."""

    forward: Forward  # (layer, params, inputs, training) -> (output, cache)
    backward: Backward  # (layer, params, cache, dy, grads) -> input gradients; adds to grads
    attrs: dict[str, Attr] = dataclasses.field(default_factory=dict)
    inputs: int = 1  # how many inputs it takes (MANY: two or more)
    needs: tuple[int, str] | None = None  # the rank its first input must have, and how to say so
    shape: ShapeRule | None = None  # its output shape (batch excluded); None: its first input's
    params: ParamRule | None = None  # its parameters (and state), from its first input's and
    # its output's shape; None: it has none
    flops: FlopRule | None = None  # forward FLOPs per sample; None: one per input element
    # per row, its decision closest to flipping, in units of `needed` (ops whose output can
    # flip on float32 rounding: spec/conditioning.py keeps the parity batch clear of them)
    margin: MarginRule | None = None
    # checks how it reads the token ids; True: the op's own rule decided (else the general one:
    # only embeddings read token ids)
    reads_input: InputRule | None = None
    # the inputs its attributes add after the ones a spec names (given an attribute's value by
    # its name): attention's padding mask reads the token ids
    implied: Implied | None = None


def window(size: int, kernel: int, stride: int, where: str) -> int:
    """Output length of a window sliding over `size` positions."""
    if size < kernel:
        raise SpecError(f"{where}: window {kernel} is larger than the input ({size})")
    return (size - kernel) // stride + 1


def columns(layer: Layer, shape: Shape, where: str) -> None:
    """Columns [start, start + size) must lie inside a flat input."""
    start, size = layer.attr("start"), layer.attr("size")
    if len(shape) != 1 or start + size > shape[0]:
        raise SpecError(
            f"{where}: columns {start}..{start + size - 1} are not inside the flat input {shape}"
        )


def patches(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Sliding windows of an NHWC array: (N, Ho, Wo, k, k, C)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    return windows[:, ::stride, ::stride].transpose(0, 1, 2, 4, 5, 3)


def scatter_windows(dpatches: np.ndarray, shape: tuple, k: int, s: int) -> np.ndarray:
    """Sum window gradients (N, Ho, Wo, k, k, C) back into an NHWC array."""
    dx = np.zeros(shape)
    ho, wo = dpatches.shape[1:3]
    for i in range(k):
        for j in range(k):
            dx[:, i : i + s * ho : s, j : j + s * wo : s, :] += dpatches[:, :, :, i, j, :]
    return dx


def linear_grads(
    grads: Arrays, kernel: str, bias: str, x: np.ndarray, dy: np.ndarray, has_bias: bool
) -> None:
    """x @ W + b's parameter gradients, over every leading axis (batch, time)."""
    flat_x, flat_dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads[kernel] = flat_x.T @ flat_dy
    if has_bias:
        grads[bias] = flat_dy.sum(axis=0)


def with_bias(layer: Layer, kernel: Shape, out: Shape) -> Params:
    """A kernel, and a bias over the output's last axis where the layer has one."""
    return [("kernel", kernel), *([("bias", (out[-1],))] if layer.attr("bias") else [])]


def row_min(values: np.ndarray) -> np.ndarray:
    return values.reshape(len(values), -1).min(axis=1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def free(layer: Layer, ins: list[Shape], out: Shape) -> int:
    """FLOPs of data movement: none."""
    return 0
