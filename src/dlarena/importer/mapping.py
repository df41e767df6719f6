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
    ids; 'seq' (N, T, F)."""

    layer: str
    layout: str
    image: tuple[int, ...] = ()  # for 'chw': the (C, H, W) that was flattened


class Mapping:
    """The spec's layers and weights, built node by node."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.layers: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.notes: dict[str, str] = {}  # op -> the conversion its weights went through
        self.vocab = 0  # the token embedding's rows
        rank = len(graph.input_shape)
        if rank not in (2, 4) or (graph.tokens and rank != 2):
            raise ImportRefused(
                f"input '{graph.input}' has shape {graph.input_shape}; dlarena imports features "
                "(batch, features), images (batch, channels, height, width) and token ids "
                "(batch, sequence)"
            )
        layout = "tokens" if graph.tokens else "flat" if rank == 2 else "image"
        self.places = {graph.input: Place(INPUT, layout)}

    def run(self) -> None:
        for node in self.graph.nodes:
            MAPPERS[node.op_type](self, node)
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


def _f32(value: float) -> float:
    """A float32 attribute as the number it was written as (0.8999999761581421 -> 0.9)."""
    return float(f"{value:.7g}")


def _square(node: onnx.NodeProto, what: str, values: list[int]) -> int:
    if len(set(values)) != 1:
        raise refused(node, f"{what} {values} differ per axis; the spec's windows are square")
    return int(values[0])


def _padding(node: onnx.NodeProto, kernel: int, strides: int) -> int:
    """Symmetric padding, from `pads` or `auto_pad`."""
    found = attributes(node)
    auto = found.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return 0
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if strides != 1 or kernel % 2 == 0:
            raise refused(node, f"auto_pad {auto} with stride {strides}, window {kernel} is "
                          "asymmetric; the spec pads both sides alike")
        return (kernel - 1) // 2
    pads = found.get("pads", [0, 0, 0, 0])
    return _square(node, "pads", list(pads))


def _window(node: onnx.NodeProto, kernel: list[int]) -> tuple[int, int, int]:
    """(size, stride, padding) of a conv or pool, refusing what the spec cannot say."""
    found = attributes(node)
    if any(d != 1 for d in found.get("dilations", [1, 1])):
        raise refused(node, "dilation is not in the spec")
    if found.get("ceil_mode", 0):
        raise refused(node, "ceil_mode rounds the output up; the spec rounds down")
    size = _square(node, "kernel_shape", list(kernel))
    stride = _square(node, "strides", list(found.get("strides", [1, 1])))
    return size, stride, _padding(node, size, stride)


ANY = ("flat", "image", "pooled", "chw", "seq")


def _conv(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    kernel = m.const(node.input[1], node)  # (out, in, kh, kw)
    if attributes(node).get("group", 1) != 1:
        raise refused(node, "grouped or depthwise convolution is not in the spec yet")
    size, stride, padding = _window(node, list(kernel.shape[2:]))
    bias = m.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else None
    if bias is not None and not np.any(bias) and node.input[2] not in m.graph.named:
        bias = None  # the zeros an exporter writes for a convolution without bias
    name = m.layer(
        node, "conv2d", [x.layer], filters=int(kernel.shape[0]), kernel=size, stride=stride,
        padding=padding, bias=bias is not None,
    )  # fmt: skip
    m.weights[f"{name}.kernel"] = kernel.transpose(2, 3, 1, 0)
    if bias is not None:
        m.weights[f"{name}.bias"] = bias
    m.note("Conv", "kernels (out, in, kh, kw) -> (kh, kw, in, out); images NCHW -> NHWC")
    m.places[node.output[0]] = Place(name, "image")


KINDS = ("gamma", "beta", "moving_mean", "moving_var")  # BatchNormalization's inputs 1-4


def _batch_norm(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image", "flat", "pooled"))
    found = attributes(node)
    if found.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise refused(node, "exported in training mode; export the model in eval mode")
    name = m.layer(
        node, "batch_norm", [x.layer], epsilon=_f32(found.get("epsilon", 1e-5)),
        momentum=_f32(found.get("momentum", 0.9)),
    )  # fmt: skip
    for kind, source in zip(KINDS, node.input[1:5], strict=True):
        m.weights[f"{name}.{kind}"] = m.const(source, node)
    m.note(
        "BatchNormalization",
        "scale, B, mean, var -> gamma, beta, moving_mean, moving_var; momentum is the share "
        "of the running statistic kept, as in ONNX (PyTorch's 0.1 is ONNX's 0.9)",
    )
    m.places[node.output[0]] = Place(name, x.layout)


def _activation(op: str) -> Callable[[Mapping, onnx.NodeProto], None]:
    def mapper(m: Mapping, node: onnx.NodeProto) -> None:
        x = m.place(node.input[0], node, ANY)
        chosen = op
        if op == "gelu" and attributes(node).get("approximate", "none") == "tanh":
            chosen = "gelu"
        name = m.layer(node, chosen, [x.layer])
        m.places[node.output[0]] = dataclasses.replace(x, layer=name)

    return mapper


def _max_pool(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    if len([o for o in node.output if o]) > 1:
        raise refused(node, "its indices output is used; the spec's max pool has none")
    size, stride, padding = _window(node, attributes(node)["kernel_shape"])
    name = m.layer(node, "max_pool", [x.layer], size=size, stride=stride, padding=padding)
    m.places[node.output[0]] = Place(name, "image")


def _avg_pool(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    size, stride, padding = _window(node, attributes(node)["kernel_shape"])
    if padding:
        raise refused(node, "average pooling with padding is not in the spec")
    name = m.layer(node, "avg_pool", [x.layer], size=size, stride=stride)
    m.places[node.output[0]] = Place(name, "image")


def _global_pool(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    name = m.layer(node, "global_avg_pool", [x.layer])
    m.places[node.output[0]] = Place(name, "pooled")


def _reduce_mean(m: Mapping, node: onnx.NodeProto) -> None:
    """The mean over height and width: a global average pool."""
    x = m.place(node.input[0], node, ("image",))
    found = attributes(node)
    axes = found.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = m.const(node.input[1], node).astype(int).tolist()
    if sorted(a % 4 for a in axes or []) != [2, 3]:
        raise refused(node, f"a mean over axes {axes}; the spec has the mean over height and width")
    name = m.layer(node, "global_avg_pool", [x.layer])
    m.places[node.output[0]] = Place(name, "pooled" if found.get("keepdims", 1) else "flat")


def _flattened(m: Mapping, node: onnx.NodeProto, x: Place) -> None:
    """An image flattened to (N, C*H*W); a pooled or flat tensor just keeps its features."""
    if x.layout == "image":
        name = m.layer(node, "flatten", [x.layer])
        image = m.graph.shapes[node.input[0]][1:]
        m.places[node.output[0]] = Place(name, "chw", image)
    else:
        m.places[node.output[0]] = dataclasses.replace(x, layout="chw" if x.image else "flat")


def _flatten(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image", "pooled", "flat", "chw"))
    if attributes(node).get("axis", 1) != 1:
        raise refused(node, "only a flatten after the batch axis (axis 1) is in the spec")
    _flattened(m, node, x)


def _reshape(m: Mapping, node: onnx.NodeProto) -> None:
    """A reshape to (N, features) of everything after the batch: a flatten."""
    x = m.place(node.input[0], node, ("image", "pooled", "flat", "chw"))
    before, after = m.graph.shapes[node.input[0]], m.graph.shapes.get(node.output[0])
    if after is None or after != (before[0], int(np.prod(before[1:]))):
        raise refused(
            node, f"a reshape of {before} to {after}; dlarena maps a reshape that flattens"
        )
    _flattened(m, node, x)


def _hwc_rows(image: tuple[int, ...]) -> np.ndarray:
    """For each row of a kernel over the spec's (H, W, C) flattening, its row in ONNX's (C, H,
    W) flattening."""
    c, h, w = image
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def _dense(m: Mapping, node: onnx.NodeProto) -> None:
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
    m.note("Gemm", "weights (out, in) with transB=1 -> kernels (in, out); alpha and beta "
           "multiplied into the kernel and bias")
    m.places[node.output[0]] = Place(name, "seq" if x.layout == "seq" else "flat")


def _add(m: Mapping, node: onnx.NodeProto) -> None:
    if any(n in m.graph.constants for n in node.input):
        _positions(m, node)
        return
    a, b = (m.place(n, node, ANY) for n in node.input)
    shapes = [m.graph.shapes.get(n) for n in node.input]
    if a.layout != b.layout or shapes[0] != shapes[1] or a.image != b.image:
        raise refused(node, f"adds {shapes[0]} and {shapes[1]}; the spec adds equal shapes")
    name = m.layer(node, "add", [a.layer, b.layer])
    m.places[node.output[0]] = dataclasses.replace(a, layer=name)


def _identity(m: Mapping, node: onnx.NodeProto) -> None:
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
    m.note("Embedding", "constants added to a token embedding (positions, BERT's token-type row "
           "for type 0) summed into its position table")
    m.places[node.output[0]] = x


def _gather(m: Mapping, node: onnx.NodeProto) -> None:
    """Gather on a table by token ids: an embedding; at position 0 of a sequence: its first
    token."""
    axis = attributes(node).get("axis", 0)
    table = m.graph.constants.get(node.input[0])
    if table is not None and table.ndim == 2 and axis == 0:
        m.place(node.input[1], node, ("tokens",))
        if m.vocab and m.vocab != table.shape[0]:
            raise refused(node, "a second token table of another size; the spec has one vocab")
        m.vocab = int(table.shape[0])
        name = m.layer(node, "embedding", [INPUT], units=int(table.shape[1]), positions=False)
        m.weights[f"{name}.table"] = table.astype(np.float32)
        m.places[node.output[0]] = Place(name, "seq")
        return
    x = m.place(node.input[0], node, ("seq",))
    index = m.graph.constants.get(node.input[1])
    if axis != 1 or index is None or index.size != 1 or int(index.reshape(())) != 0:
        raise refused(node, "a gather other than an embedding or a sequence's first token")
    m.places[node.output[0]] = Place(m.layer(node, "first_token", [x.layer]), "flat")


def _layer_norm(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("flat", "seq"))
    found = attributes(node)
    if found.get("axis", -1) not in (-1, len(m.graph.shapes[node.input[0]]) - 1):
        raise refused(node, "a layer norm over more than the last axis")
    name = m.layer(node, "layer_norm", [x.layer], epsilon=_f32(found.get("epsilon", 1e-5)))
    gamma = m.const(node.input[1], node)
    beta = m.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else gamma * 0
    m.weights[f"{name}.gamma"], m.weights[f"{name}.beta"] = gamma, beta
    m.places[node.output[0]] = Place(name, x.layout)


def _attention(m: Mapping, node: onnx.NodeProto) -> None:
    """The self-attention block attention.py fused and checked."""
    x = m.place(node.input[0], node, ("seq",))
    found = attributes(node)
    name = m.layer(node, "attention", [x.layer], heads=found["heads"], mask=found["mask"])
    for part in ("q", "k", "v", "o"):
        for kind in ("kernel", "bias"):
            m.weights[f"{name}.{part}_{kind}"] = m.const(f"{node.output[0]}:{part}_{kind}", node)
    m.note("Attention", "q, k, v and output projections (in, out) as MatMul'd; heads the column "
           "blocks, as the spec has them; the block checked numerically before it was fused")
    m.places[node.output[0]] = Place(name, "seq")


MAPPERS: dict[str, Callable[[Mapping, onnx.NodeProto], None]] = {
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "Relu": _activation("relu"),
    "Tanh": _activation("tanh"),
    "Gelu": _activation("gelu"),
    "MaxPool": _max_pool,
    "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_pool,
    "ReduceMean": _reduce_mean,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Gemm": _dense,
    "MatMul": _dense,
    "Add": _add,
    "Identity": _identity,
    "Dropout": _identity,
    "Gather": _gather,
    "LayerNormalization": _layer_norm,
    "Attention": _attention,
}

# What to use instead, for ops that are not mapped
NEAREST = {
    "Softmax": "end the model in its logits: the spec's loss applies softmax itself",
    "LogSoftmax": "end the model in its logits: the spec's loss applies softmax itself",
    "LeakyRelu": "Relu",
    "Elu": "Relu",
    "Selu": "Relu",
    "Sigmoid": "none yet; Tanh is the nearest squashing activation",
    "HardSigmoid": "none yet; Tanh is the nearest squashing activation",
    "ConvTranspose": "none: the spec has no transposed convolution",
    "MaxRoiPool": "none",
    "Transpose": "none: export images as NCHW without explicit transposes",
    "Sub": "none outside a layer norm pattern",
    "Mul": "none outside a GELU pattern",
    "Div": "none outside a GELU pattern",
}
