"""Sequence ops: token embeddings, layer norm, fused attention, and the LSTM with the axis
shuffles exporters put around it (Transpose, Squeeze, Reshape, Gather of one step), tracked
as what each ONNX axis is (`Place.axes`) until the tensor is the spec's (N, T, F) again."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx

from dlarena.importer.graph import attributes
from dlarena.importer.mapping import INPUT, SEQ, Mapping, Place, f32, refused, with_axes


def gather(m: Mapping, node: onnx.NodeProto) -> None:
    """Gather on a table by token ids: an embedding. On a sequence: its first token, its last
    step (an LSTM's final state), or a unit axis dropped."""
    axis = attributes(node).get("axis", 0)
    table = m.graph.constants.get(node.input[0])
    if table is not None and table.ndim == 2 and axis == 0:
        m.place(node.input[1], node, ("tokens",))
        if m.vocab and m.vocab != table.shape[0]:
            raise refused(node, "a second token table of another size; the spec has one vocab")
        m.vocab = int(table.shape[0])
        name = m.layer(node, "embedding", [INPUT], units=int(table.shape[1]), positions=False)
        m.weights[f"{name}.table"] = table.astype(np.float32)
        m.places[node.output[0]] = with_axes(name, SEQ)
        return
    x = m.place(node.input[0], node, ("seq", "axes"))
    index = m.graph.constants.get(node.input[1])
    if index is None or index.size != 1:
        raise refused(node, "a gather other than an embedding or one step of a sequence")
    axis, at = axis % len(x.axes), int(index.reshape(()))
    rest = x.axes[:axis] + x.axes[axis + 1 :]
    steps = m.graph.shapes[node.input[0]][axis]
    if x.axes[axis] == "1" and at in (0, -1):
        m.places[node.output[0]] = with_axes(x.layer, rest)
    elif x.axes[axis] == "T" and at == 0:
        m.places[node.output[0]] = with_axes(m.layer(node, "first_token", [x.layer]), rest)
    elif x.axes[axis] == "T" and at in (-1, steps - 1):
        m.places[node.output[0]] = with_axes(_last_step(m, node, x), rest)
    else:
        raise refused(node, f"step {at} of axis {x.axes[axis]}; the spec takes the first token "
                      "or an LSTM's last step")


def _last_step(m: Mapping, node: onnx.NodeProto, x: Place) -> str:
    """The last step of an LSTM's sequence: the LSTM itself, returning its final state."""
    layer = next(la for la in m.layers if la["name"] == x.layer)
    if layer["op"] != "lstm" or any(x.layer in la["inputs"] for la in m.layers):
        raise refused(node, "the last step of a sequence other than an LSTM's")
    layer["sequence"] = False
    m.closed.add(x.layer)
    return x.layer


IMAGES = {"image": ("N", "C", "H", "W"), "nhwc": ("N", "H", "W", "C")}


def transpose(m: Mapping, node: onnx.NodeProto) -> None:
    """Axes reordered: a sequence's, or an image's between NCHW and NHWC."""
    x = m.place(node.input[0], node, ("seq", "axes", *IMAGES))
    axes = IMAGES.get(x.layout, x.axes)
    perm = attributes(node).get("perm", list(reversed(range(len(axes)))))
    moved = tuple(axes[p] for p in perm)
    if x.layout not in IMAGES:
        m.places[node.output[0]] = with_axes(x.layer, moved)
        return
    layout = next((name for name, order in IMAGES.items() if order == moved), None)
    if layout is None:
        raise refused(node, f"an image's axes reordered to {moved}; NCHW or NHWC are read")
    m.places[node.output[0]] = Place(x.layer, layout)


def squeeze(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("seq", "axes"))
    axes = attributes(node).get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = m.const(node.input[1], node).astype(int).tolist()
    drop = {a % len(x.axes) for a in axes} if axes is not None else {
        i for i, a in enumerate(x.axes) if a == "1"
    }  # fmt: skip
    if any(x.axes[i] != "1" for i in drop):
        raise refused(node, "squeezes an axis that is not a unit axis")
    kept = tuple(a for i, a in enumerate(x.axes) if i not in drop)
    m.places[node.output[0]] = with_axes(x.layer, kept)


ONNX_GATES = (0, 2, 3, 1)  # the spec's i, f, g, o as blocks of ONNX's i, o, f, c


def lstm(m: Mapping, node: onnx.NodeProto) -> None:
    """ONNX's LSTM (forward, zero initial state, default activations) as the spec's."""
    found = attributes(node)
    layout = found.get("layout", 0)
    x = m.place(node.input[0], node, ("seq", "axes"))
    if x.axes != (("T", "N", "F") if layout == 0 else SEQ):
        raise refused(node, f"its input's axes are {x.axes}")
    _check_plain_lstm(m, node, found)
    ins, outs = [*node.input, "", "", "", ""], [*node.output, "", ""]
    used = [bool(name and m.graph.consumers(name)) for name in outs[:3]]
    if used[2] or (used[0] and used[1]):
        raise refused(node, "it uses the cell state, or every step and the final state both")
    units = int(found["hidden_size"])

    def gates(w: np.ndarray) -> np.ndarray:
        return np.concatenate([w[k * units : (k + 1) * units] for k in ONNX_GATES])

    bias = m.const(ins[3], node)[0] if ins[3] else np.zeros(8 * units, np.float32)
    name = m.layer(node, "lstm", [x.layer], units=units, sequence=used[0])
    m.weights[f"{name}.input_kernel"] = gates(m.const(ins[1], node)[0]).T.copy()
    m.weights[f"{name}.recurrent_kernel"] = gates(m.const(ins[2], node)[0]).T.copy()
    m.weights[f"{name}.gate_bias"] = gates(bias[: 4 * units] + bias[4 * units :])
    m.note("LSTM", "W (4H, in) and R (4H, H) -> input_kernel (in, 4H) and recurrent_kernel "
           "(H, 4H); gates reordered from ONNX's i, o, f, c to the spec's i, f, g, o; the two "
           "biases summed into one gate_bias")
    y = ("T", "1", "N", "F") if layout == 0 else ("N", "T", "1", "F")
    h = ("1", "N", "F") if layout == 0 else ("N", "1", "F")
    for out, axes, wanted in ((outs[0], y, used[0]), (outs[1], h, used[1])):
        if wanted:
            m.places[out] = with_axes(name, axes)


def _check_plain_lstm(m: Mapping, node: onnx.NodeProto, found: dict) -> None:
    ins = [*node.input, "", "", "", "", ""]
    if found.get("direction", "forward") != "forward":
        raise refused(node, f"a {found['direction']} LSTM; the spec's runs forward")
    if found.get("activations", ["Sigmoid", "Tanh", "Tanh"]) != ["Sigmoid", "Tanh", "Tanh"]:
        raise refused(node, "activations other than sigmoid, tanh, tanh")
    if found.get("clip") or found.get("input_forget", 0) or ins[4] or ins[7]:
        raise refused(node, "clipping, coupled gates, sequence lengths or peepholes")
    for state in ins[5:7]:
        if state and np.any(m.const(state, node)):
            raise refused(node, "a non-zero initial state; the spec's LSTM starts from zeros")


def layer_norm(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("flat", "seq"))
    found = attributes(node)
    if found.get("axis", -1) not in (-1, len(m.graph.shapes[node.input[0]]) - 1):
        raise refused(node, "a layer norm over more than the last axis")
    name = m.layer(node, "layer_norm", [x.layer], epsilon=f32(found.get("epsilon", 1e-5)))
    gamma = m.const(node.input[1], node)
    beta = m.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else gamma * 0
    m.weights[f"{name}.gamma"], m.weights[f"{name}.beta"] = gamma, beta
    m.places[node.output[0]] = dataclasses.replace(x, layer=name)


def attention(m: Mapping, node: onnx.NodeProto) -> None:
    """The self-attention block attention.py fused and checked."""
    x = m.place(node.input[0], node, ("seq",))
    found = attributes(node)
    name = m.layer(node, "attention", [x.layer], heads=found["heads"], mask=found["mask"])
    for part in ("q", "k", "v", "o"):
        for kind in ("kernel", "bias"):
            m.weights[f"{name}.{part}_{kind}"] = m.const(f"{node.output[0]}:{part}_{kind}", node)
    m.note("Attention", "q, k, v and output projections (in, out) as MatMul'd; heads the column "
           "blocks, as the spec has them; the block checked numerically before it was fused")
    m.places[node.output[0]] = with_axes(name, SEQ)


