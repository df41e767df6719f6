"""`lstm`: gates i, f, g, o from x_t @ W + h @ U + b; c = f c + i g; h = o tanh(c), from zero
state; every step's hidden state (batch, time, units) with `sequence`, else the last one."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlarena.spec.model import Layer, Workload
from dlarena.spec.ops.base import REQUIRED, SEQUENCE, Arrays, Op, Params, Shape, sigmoid


def _shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    units = layer.attr("units")
    return (ins[0][0], units) if layer.attr("sequence") else (units,)


def _params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    units = layer.attr("units")
    return [("input_kernel", (ins[-1], 4 * units)), ("recurrent_kernel", (units, 4 * units)),
            ("gate_bias", (4 * units,))]  # fmt: skip


def _flops(layer: Layer, ins: list[Shape], out: Shape) -> int:
    """Per step: both matmuls and the bias over the four gates, then 10 per unit (three
    sigmoids, two tanh, three products, a sum)."""
    seq, units = ins[0][0], layer.attr("units")
    return seq * (4 * units * (2 * ins[0][-1] + 2 * units + 1) + 10 * units)


def _forward(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x, n = ins[0], layer.name
    batch, seq, _ = x.shape
    units = layer.attr("units")
    h, c = np.zeros((batch, units)), np.zeros((batch, units))
    steps = []
    for t in range(seq):
        z = x[:, t] @ p[f"{n}.input_kernel"] + h @ p[f"{n}.recurrent_kernel"] + p[f"{n}.gate_bias"]
        i, f, o = (sigmoid(z[:, k * units : (k + 1) * units]) for k in (0, 1, 3))
        g = np.tanh(z[:, 2 * units : 3 * units])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        steps.append((h, c, i, f, g, o, c_new, h_new))
        h, c = h_new, c_new
    hs = np.stack([step[-1] for step in steps], axis=1)
    return (hs if layer.attr("sequence") else h), (x, steps)


def _backward(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    """Backpropagation through time."""
    (x, steps), n = cache, layer.name
    kernel, recurrent = p[f"{n}.input_kernel"], p[f"{n}.recurrent_kernel"]
    dx, dkernel, drecurrent = np.zeros_like(x), np.zeros_like(kernel), np.zeros_like(recurrent)
    dbias = np.zeros(kernel.shape[1])
    dh_next, dc_next = np.zeros_like(steps[0][0]), np.zeros_like(steps[0][0])
    for t in reversed(range(len(steps))):
        h_prev, c_prev, i, f, g, o, c, _ = steps[t]
        dh = dh_next + (dy[:, t] if layer.attr("sequence") else (dy if t == len(steps) - 1 else 0))
        tanh_c = np.tanh(c)
        dc = dc_next + dh * o * (1.0 - tanh_c**2)
        dz = np.concatenate(
            [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2),
             dh * tanh_c * o * (1 - o)],
            axis=1,
        )  # fmt: skip
        dkernel += x[:, t].T @ dz
        drecurrent += h_prev.T @ dz
        dbias += dz.sum(axis=0)
        dx[:, t] = dz @ kernel.T
        dh_next, dc_next = dz @ recurrent.T, dc * f
    grads[f"{n}.input_kernel"], grads[f"{n}.recurrent_kernel"] = dkernel, drecurrent
    grads[f"{n}.gate_bias"] = dbias
    return [dx]


LSTM = Op(
    attrs={"units": ("count", REQUIRED), "sequence": ("bool", False)},
    needs=SEQUENCE,
    shape=_shape,
    params=_params,
    flops=_flops,
    forward=_forward,
    backward=_backward,
)
