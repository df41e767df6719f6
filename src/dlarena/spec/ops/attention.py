"""`attention`: scaled dot-product attention over H heads, with four (D, D) projections q, k, v
and o (head h owns columns h*D/H .. (h+1)*D/H of q, k and v), and no mask, a causal one, or a
padding mask that reads the token ids as its second input; `first_token`: position 0 of a
sequence (a classifier's [CLS] token)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import ATTENTION_PARTS, INPUT, Layer, Workload
from dlarena.spec.ops.base import REQUIRED, SEQUENCE, Arrays, Op, Params, Shape, free, linear_grads


def _shape(layer: Layer, ins: list[Shape], where: str) -> Shape:
    if ins[0][-1] % layer.attr("heads"):
        raise SpecError(
            f"{where}: {layer.attr('heads')} heads do not divide {ins[0][-1]} features; choose "
            "heads that divide the width"
        )
    return ins[0]


def _reads_input(workload: Workload, layer: Layer, where: str) -> bool:
    """A padding mask reads the token ids as the second input."""
    if layer.attr("mask") != "padding":
        return False
    if not workload.tokens:
        raise SpecError(f"{where}: a padding mask needs token ids: give the spec a vocab_size")
    if len(layer.inputs) != 2 or layer.inputs[1] != INPUT:
        raise SpecError(f"{where}: a padding mask reads the token ids: inputs [x, input]")
    if layer.inputs[0] == INPUT:
        raise SpecError(f"{where}: attention needs embedded tokens; put an embedding first")
    return True


def _params(layer: Layer, ins: Shape, out: Shape, workload: Workload) -> Params:
    width, bias = ins[-1], layer.attr("bias")
    return [
        (f"{part}_{kind}", shape)
        for part in ATTENTION_PARTS
        for kind, shape in (("kernel", (width, width)), *((("bias", (width,)),) if bias else ()))
    ]


def _flops(layer: Layer, ins: list[Shape], out: Shape) -> int:
    """The four projections, 2 T^2 D for the scores and again for the weighted values, and 3
    per score for the softmax (max, exp, divide)."""
    seq, width = ins[0]
    projections = 4 * seq * (2 * width * width + (width if layer.attr("bias") else 0))
    return projections + 4 * seq * seq * width + 3 * layer.attr("heads") * seq * seq


def attention_mask(layer: Layer, ins: list[np.ndarray]) -> np.ndarray | None:
    """True where a query may attend a key: (batch or 1, 1, query, key), or None (all)."""
    seq = ins[0].shape[1]
    if layer.attr("mask") == "causal":
        return np.tril(np.ones((seq, seq), bool))[None, None]
    if layer.attr("mask") == "padding":
        return (ins[1] != 0)[:, None, None, :]
    return None


def _heads(x: np.ndarray, heads: int) -> np.ndarray:
    """(B, T, D) -> (B, H, T, D/H): head h is the h-th block of D/H columns."""
    b, t, d = x.shape
    return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    b, h, t, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * dh)


def _project(layer: Layer, p: Arrays, x: np.ndarray, part: str) -> np.ndarray:
    out = x @ p[f"{layer.name}.{part}_kernel"]
    return out + p[f"{layer.name}.{part}_bias"] if layer.attr("bias") else out


def _forward(layer: Layer, p: Arrays, ins: list[np.ndarray], training: bool) -> Any:
    x, heads = ins[0], layer.attr("heads")
    q, k, v = (_heads(_project(layer, p, x, part), heads) for part in ATTENTION_PARTS[:3])
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    mask = attention_mask(layer, ins)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    context = _merge_heads(probs @ v)
    return _project(layer, p, context, "o"), (x, q, k, v, probs, context)


def _backward(layer: Layer, p: Arrays, cache: Any, dy: np.ndarray, grads: Arrays) -> list:
    x, q, k, v, probs, context = cache
    n, has_bias, scale = layer.name, layer.attr("bias"), 1.0 / math.sqrt(q.shape[-1])
    linear_grads(grads, f"{n}.o_kernel", f"{n}.o_bias", context, dy, has_bias)
    dcontext = _heads(dy @ p[f"{n}.o_kernel"].T, q.shape[1])
    dprobs = dcontext @ v.transpose(0, 1, 3, 2)
    dscores = probs * (dprobs - (dprobs * probs).sum(axis=-1, keepdims=True))
    projected = {
        "q": _merge_heads(dscores @ k * scale),
        "k": _merge_heads(dscores.transpose(0, 1, 3, 2) @ q * scale),
        "v": _merge_heads(probs.transpose(0, 1, 3, 2) @ dcontext),
    }
    dx = np.zeros_like(x)
    for part, dpart in projected.items():
        linear_grads(grads, f"{n}.{part}_kernel", f"{n}.{part}_bias", x, dpart, has_bias)
        dx += dpart @ p[f"{n}.{part}_kernel"].T
    return [dx, None][: len(layer.inputs)]


ATTENTION = Op(
    attrs={
        "heads": ("count", REQUIRED),
        "mask": (("none", "padding", "causal"), "none"),
        "bias": ("bool", True),
    },
    needs=SEQUENCE,
    shape=_shape,
    params=_params,
    flops=_flops,
    forward=_forward,
    backward=_backward,
    reads_input=_reads_input,
    implied=lambda attr: (INPUT,) if attr("mask") == "padding" else (),
)


def _first_token_back(layer: Layer, p: Arrays, shape: Any, dy: np.ndarray, grads: Arrays) -> list:
    dx = np.zeros(shape)
    dx[:, 0] = dy
    return [dx]


FIRST_TOKEN = Op(
    needs=SEQUENCE,
    shape=lambda layer, ins, where: ins[0][1:],
    flops=free,
    forward=lambda layer, p, ins, training: (ins[0][:, 0], ins[0].shape),
    backward=_first_token_back,
)
