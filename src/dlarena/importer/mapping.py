"""ONNX nodes to spec layers: one function per op type (MAPPERS), each converting its weights
to the spec's canonical layouts and saying so (`notes`).

The spec's images are NHWC, ONNX's NCHW: every tensor's place records how its axes sit
(`Place.layout`), so an image flattened by ONNX (channels, then rows, then columns) and by the
spec (rows, columns, channels) meet at the next dense layer, whose kernel rows are permuted."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import numpy as np
import onnx

from dlarena.errors import ImportRefused
from dlarena.importer.graph import Graph, attributes, label

INPUT = "input"


@dataclasses.dataclass(frozen=True)
class Place:
    """Where an ONNX tensor lives in the spec: a layer's output, and how its axes are laid out:
    'flat' (N, F); 'image' (N, C, H, W), the spec's (H, W, C); 'pooled' (N, C, 1, 1), the
    spec's (C,); 'chw' (N, C*H*W), which the spec holds flattened as (H, W, C); 'tokens' (N, T)
    ids; 'seq' (N, T, F); 'axes' a sequence with its axes in another order, or unit axes;
    'nhwc' an image in the spec's own layout (N, H, W, C)."""

    layer: str
    layout: str
    image: tuple[int, ...] = ()  # for 'chw': the (C, H, W) that was flattened
    # for 'seq' and 'axes': what each ONNX axis is: N batch, T time, F features, 1 a unit axis
    axes: tuple[str, ...] = ()


class Mapping:
    """The spec's layers and weights, built node by node."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.layers: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.notes: dict[str, str] = {}  # op -> the conversion its weights went through
        self.vocab = 0  # the token embedding's rows
        self.closed: set[str] = set()  # LSTMs turned to their last step: no sequence left
        rank = len(graph.input_shape)
        if rank not in (2, 4) or (graph.tokens and rank != 2):
            raise ImportRefused(
                f"input '{graph.input}' has shape {graph.input_shape}; dlarena imports features "
                "(batch, features), images (batch, channels, height, width) and token ids "
                "(batch, sequence)"
            )
        layout = "tokens" if graph.tokens else "flat" if rank == 2 else "image"
        # images come as NCHW, or as NHWC turned to NCHW first (tf2onnx keeps Keras's layout)
        users = graph.consumers(graph.input)
        self.nhwc = layout == "image" and bool(users) and all(
            u.op_type == "Transpose" and list(attributes(u).get("perm", [])) == [0, 3, 1, 2]
            for u in users
        )  # fmt: skip
        self.places = {graph.input: Place(INPUT, "nhwc" if self.nhwc else layout)}

    def run(self, mappers: dict[str, Callable[[Mapping, onnx.NodeProto], None]]) -> None:
        for node in self.graph.nodes:
            mappers[node.op_type](self, node)
        out = self.places.get(self.graph.output)
        if out is None or out.layout != "flat" or out.layer != self.layers[-1]["name"]:
            raise ImportRefused(
                f"the graph's output '{self.graph.output}' is not the last layer's logits "
                "(batch, classes); dlarena imports classifiers that end in their logits"
            )

    def place(self, name: str, node: onnx.NodeProto, layouts: tuple[str, ...]) -> Place:
        found = self.places.get(name)
        if found is None:
            raise refused(node, f"its input '{name}' is a constant or unmapped tensor")
        if found.layout not in layouts:
            raise refused(node, f"it needs {' or '.join(layouts)} input, got {found.layout}")
        if found.layer in self.closed and "T" in found.axes:
            raise refused(node, "it reads every step of an LSTM whose last step alone is used")
        return found

    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        if name not in self.graph.constants:
            raise refused(node, f"'{name}' must be a weight (an initializer), but it is computed")
        return np.asarray(self.graph.constants[name], np.float32)

    def layer(self, node: onnx.NodeProto, op: str, inputs: list[str], **attrs: object) -> str:
        """Appends the layer; its name comes from the node's first named weight or its op."""
        weights = [n for n in node.input if n in self.graph.named]
        base = weights[0].rsplit(".", 1)[0] if weights else op
        name = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_")[:56] or op
        if not re.match(r"[A-Za-z_]", name):
            name = f"{op}_{name}"
        taken = {layer["name"] for layer in self.layers} | {INPUT}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        self.layers.append({"name": unique, "op": op, "inputs": inputs, **attrs})
        return unique

    def note(self, op: str, text: str) -> None:
        self.notes.setdefault(op, text)


def refused(node: onnx.NodeProto, why: str) -> ImportRefused:
    return ImportRefused(f"{node.op_type} node '{label(node)}': {why}")


def f32(value: float) -> float:
    """A float32 attribute as the number it was written as (0.8999999761581421 -> 0.9)."""
    return float(f"{value:.7g}")


ANY = ("flat", "image", "nhwc", "pooled", "chw", "seq")
SEQ = ("N", "T", "F")  # the spec's sequences: batch, time, features


def with_axes(layer: str, axes: tuple[str, ...]) -> Place:
    """A layer's output seen through ONNX axes: the spec's own sequence or features when the
    axes are those, else still to be shuffled back."""
    layout = {SEQ: "seq", ("N", "F"): "flat"}.get(axes, "axes")
    return Place(layer, layout, axes=axes if layout != "flat" else ())


def _flattened(m: Mapping, node: onnx.NodeProto, x: Place) -> None:
    """An image flattened to (N, C*H*W), or from NHWC to (N, H*W*C) as the spec flattens; a
    pooled or flat tensor just keeps its features."""
    if x.layout == "nhwc":
        m.places[node.output[0]] = Place(m.layer(node, "flatten", [x.layer]), "flat")
    elif x.layout == "image":
        name = m.layer(node, "flatten", [x.layer])
        image = m.graph.shapes[node.input[0]][1:]
        m.places[node.output[0]] = Place(name, "chw", image)
    else:
        m.places[node.output[0]] = dataclasses.replace(x, layout="chw" if x.image else "flat")


def flatten(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image", "nhwc", "pooled", "flat", "chw"))
    if attributes(node).get("axis", 1) != 1:
        raise refused(node, "only a flatten after the batch axis (axis 1) is in the spec")
    _flattened(m, node, x)


def reshape(m: Mapping, node: onnx.NodeProto) -> None:
    """A reshape to (N, features) of everything after the batch: a flatten; of a sequence,
    one that only adds or drops unit axes."""
    x = m.place(node.input[0], node, ("image", "nhwc", "pooled", "flat", "chw", "seq", "axes"))
    before, after = m.graph.shapes[node.input[0]], m.graph.shapes.get(node.output[0])
    if x.axes:
        m.places[node.output[0]] = with_axes(x.layer, _unit_axes(node, x.axes, before, after))
        return
    if after is None or after != (before[0], int(np.prod(before[1:]))):
        raise refused(
            node, f"a reshape of {before} to {after}; dlarena maps a reshape that flattens"
        )
    _flattened(m, node, x)


def _unit_axes(
    node: onnx.NodeProto, axes: tuple[str, ...], before: tuple[int, ...], after: tuple | None
) -> tuple[str, ...]:
    """The axes after a reshape that keeps every non-unit axis in order."""
    kept = [(a, n) for a, n in zip(axes, before, strict=True) if a != "1"]
    found: list[str] = []
    for size in after or ():
        if kept and kept[0][1] == size:
            found.append(kept.pop(0)[0])
        elif size == 1:
            found.append("1")
        else:
            raise refused(node, f"a reshape of {before} to {after} mixes a sequence's axes")
    if kept:
        raise refused(node, f"a reshape of {before} to {after} mixes a sequence's axes")
    return tuple(found)


def _hwc_rows(image: tuple[int, ...]) -> np.ndarray:
    """For each row of a kernel over the spec's (H, W, C) flattening, its row in ONNX's (C, H,
    W) flattening."""
    c, h, w = image
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def dense(m: Mapping, node: onnx.NodeProto) -> None:
    """Gemm (and MatMul, with or without the Add of a bias): kernel (in, out), bias (out,)."""
    x = m.place(node.input[0], node, ("flat", "chw", "seq"))
    found = attributes(node)
    if found.get("transA", 0):
        raise refused(node, "transA=1 transposes the data; the spec's dense reads (batch, in)")
    kernel = m.const(node.input[1], node)
    if kernel.ndim != 2:
        raise refused(node, f"a {kernel.ndim}-d weight; a dense layer's is 2-d")
    kernel = (kernel.T if found.get("transB", 0) else kernel) * found.get("alpha", 1.0)
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = np.broadcast_to(m.const(node.input[2], node), (kernel.shape[1],)).copy()
        bias = bias * found.get("beta", 1.0)
    if x.layout == "chw":
        kernel = kernel[_hwc_rows(x.image)]
        m.note(
            "Flatten",
            "a dense layer after a flattened image: kernel rows reordered from ONNX's (C, H, W) "
            "flattening to the spec's (H, W, C)",
        )
    name = m.layer(node, "dense", [x.layer], units=int(kernel.shape[1]), bias=bias is not None)
    m.weights[f"{name}.kernel"] = np.ascontiguousarray(kernel, np.float32)
    if bias is not None:
        m.weights[f"{name}.bias"] = bias.astype(np.float32)
    m.note(
        "Gemm",
        "weights (out, in) with transB=1 -> kernels (in, out); alpha and beta "
        "multiplied into the kernel and bias",
    )
    m.places[node.output[0]] = with_axes(name, SEQ if x.layout == "seq" else ("N", "F"))


def add(m: Mapping, node: onnx.NodeProto) -> None:
    if any(n in m.graph.constants for n in node.input):
        _positions(m, node)
        return
    a, b = (m.place(n, node, ANY) for n in node.input)
    shapes = [m.graph.shapes.get(n) for n in node.input]
    if a.layout != b.layout or shapes[0] != shapes[1] or a.image != b.image:
        raise refused(node, f"adds {shapes[0]} and {shapes[1]}; the spec adds equal shapes")
    name = m.layer(node, "add", [a.layer, b.layer])
    m.places[node.output[0]] = dataclasses.replace(a, layer=name)


# the ONNX axis that is the spec's last (features, or an image's channels), by layout
_FEATURE_AXIS = {"flat": 1, "image": 1, "pooled": 1, "nhwc": 3, "seq": 2}


def concat(m: Mapping, node: onnx.NodeProto) -> None:
    """Tensors joined along their features (an image's channels): the spec's concat."""
    places = [m.place(n, node, ("flat", "image", "pooled", "nhwc", "seq")) for n in node.input]
    shapes = [m.graph.shapes[n] for n in node.input]
    axis = attributes(node)["axis"] % len(shapes[0])
    layouts = {p.layout for p in places}
    if len(layouts) != 1 or axis != _FEATURE_AXIS[places[0].layout]:
        raise refused(
            node, f"joins {shapes} along axis {axis}; the spec joins features (images: channels)"
        )
    name = m.layer(node, "concat", [p.layer for p in places])
    m.places[node.output[0]] = dataclasses.replace(places[0], layer=name)


def identity(m: Mapping, node: onnx.NodeProto) -> None:
    """Identity, and Dropout (identity at inference; the spec's dropout is a training choice)."""
    if len([o for o in node.output if o]) > 1 and m.graph.consumers(node.output[1]):
        raise refused(node, "its mask output is used")
    m.places[node.output[0]] = m.place(node.input[0], node, ANY)


def _positions(m: Mapping, node: onnx.NodeProto) -> None:
    """A constant added to a token embedding's output (position embeddings, and the folded
    token-type row BERT adds): the embedding's position table."""
    data = [n for n in node.input if n not in m.graph.constants]
    x = m.place(data[0], node, ("seq",)) if len(data) == 1 else None
    layer = next((la for la in m.layers if x and la["name"] == x.layer), None)
    if x is None or layer is None or layer["op"] != "embedding":
        raise refused(node, "adds a constant (a bias not right after a MatMul)")
    seq, units = m.graph.shapes[data[0]][1:]
    constant = m.const(next(n for n in node.input if n != data[0]), node)
    rows = np.broadcast_to(constant, m.graph.shapes[data[0]]).reshape(-1, seq, units)
    if not np.array_equal(rows, np.broadcast_to(rows[:1], rows.shape)):
        raise refused(node, "adds a constant that differs per sample to an embedding")
    added = rows[:1]
    key = f"{layer['name']}.positions"
    m.weights[key] = m.weights.get(key, np.zeros((seq, units), np.float32)) + added[0]
    layer["positions"] = True
    m.note(
        "Embedding",
        "constants added to a token embedding (positions, BERT's token-type row "
        "for type 0) summed into its position table",
    )
    m.places[node.output[0]] = x
