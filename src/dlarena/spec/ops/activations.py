"""Elementwise ops: the activations (relu, relu6, gelu in its exact and tanh forms, tanh,
sigmoid), `scale` (x times a constant) and `dropout`. Each keeps its input's shape and costs one
FLOP per element."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.spec.model import Layer
from dlarena.spec.ops.base import REQUIRED, Arrays, Op, free, row_min, sigmoid


def _relu_margin(layer: Layer, x: np.ndarray) -> np.ndarray:
    return row_min(np.abs(x))


RELU = Op(
    forward=lambda layer, p, ins, training: (np.maximum(ins[0], 0.0), ins[0]),
    backward=lambda layer, p, x, dy, grads: [dy * (x > 0)],
    margin=_relu_margin,
)


def _relu6_margin(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Two kinks: 0 and 6."""
    return row_min(np.minimum(np.abs(x), np.abs(x - 6.0)))


# min(max(x, 0), 6): MobileNet's activation (ONNX's Clip to [0, 6])
RELU6 = Op(
    forward=lambda layer, p, ins, training: (np.clip(ins[0], 0.0, 6.0), ins[0]),
    backward=lambda layer, p, x, dy, grads: [dy * ((x > 0) & (x < 6))],
    margin=_relu6_margin,
)


def _tanh(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = np.tanh(ins[0])
    return out, out


TANH = Op(forward=_tanh, backward=lambda layer, p, out, dy, grads: [dy * (1.0 - out**2)])


def _sigmoid(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    out = sigmoid(ins[0])
    return out, out


# 1 / (1 + exp(-x)): gates, squeeze-and-excitation, imported models
SIGMOID = Op(forward=_sigmoid, backward=lambda layer, p, out, dy, grads: [dy * out * (1.0 - out)])


def erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise in float64 (SciPy's, within an ulp or two of math.erf and 100 times as
    fast as it vectorized). Imported here: only the host computes references, and not every
    worker environment has SciPy."""
    from scipy.special import erf

    return np.asarray(erf(x), dtype=np.float64)


def _gelu(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0))), x


def _gelu_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return [dy * (cdf + x * pdf)]


GELU = Op(forward=_gelu, backward=_gelu_back)  # exact: x * Phi(x), with erf

_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x = ins[0]
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x * x * x))), x


def _gelu_tanh_back(layer: Layer, p: Arrays, x: Any, dy: np.ndarray, grads: Arrays) -> list:
    t = np.tanh(_GELU_C * (x + 0.044715 * x * x * x))
    inner = _GELU_C * (1.0 + 3 * 0.044715 * x**2)
    return [dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * inner)]


# the tanh approximation (jax.nn.gelu's and Flax's default)
GELU_TANH = Op(forward=_gelu_tanh, backward=_gelu_tanh_back)

# x times a constant: a residual branch scaled before its add (Inception-ResNet's 0.1 to 0.3),
# or any fixed multiplier an imported graph keeps
SCALE = Op(
    attrs={"factor": ("factor", REQUIRED)},
    forward=lambda layer, p, ins, training: (ins[0] * layer.attr("factor"), None),
    backward=lambda layer, p, cache, dy, grads: [dy * layer.attr("factor")],
)

# zeroes a fraction `rate` of the values while a timed training step runs (scaled by
# 1 / (1 - rate)); identity in inference and in every parity check, so in the reference. Its
# FLOPs: none in inference (a training step's mask multiply is not counted).
DROPOUT = Op(
    attrs={"rate": ("fraction", REQUIRED)},
    flops=free,
    forward=lambda layer, p, ins, training: (ins[0], None),
    backward=lambda layer, p, cache, dy, grads: [dy],
)
