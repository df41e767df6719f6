"""Image ops: convolution, batch norm and pooling, ONNX's NCHW read as the spec's NHWC (the
kernels transposed, each conversion noted)."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx

from dlarena.importer.graph import attributes
from dlarena.importer.mapping import Mapping, Place, f32, refused


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
            raise refused(
                node,
                f"auto_pad {auto} with stride {strides}, window {kernel} is "
                "asymmetric; the spec pads both sides alike",
            )
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


def conv(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    kernel = m.const(node.input[1], node)  # (out, in / group, kh, kw)
    group = int(attributes(node).get("group", 1))  # depthwise: one per input channel
    size, stride, padding = _window(node, list(kernel.shape[2:]))
    bias = m.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else None
    if bias is not None and not np.any(bias) and node.input[2] not in m.graph.named:
        bias = None  # the zeros an exporter writes for a convolution without bias
    name = m.layer(
        node, "conv2d", [x.layer], filters=int(kernel.shape[0]), kernel=size, stride=stride,
        padding=padding, bias=bias is not None, **({"groups": group} if group > 1 else {}),
    )  # fmt: skip
    m.weights[f"{name}.kernel"] = kernel.transpose(2, 3, 1, 0)
    if bias is not None:
        m.weights[f"{name}.bias"] = bias
    m.note("Conv", "kernels (out, in, kh, kw) -> (kh, kw, in, out); images NCHW -> NHWC")
    m.places[node.output[0]] = Place(name, "image")


KINDS = ("gamma", "beta", "moving_mean", "moving_var")  # BatchNormalization's inputs 1-4


def batch_norm(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image", "flat", "pooled"))
    found = attributes(node)
    if found.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise refused(node, "exported in training mode; export the model in eval mode")
    name = m.layer(
        node, "batch_norm", [x.layer], epsilon=f32(found.get("epsilon", 1e-5)),
        momentum=f32(found.get("momentum", 0.9)),
    )  # fmt: skip
    for kind, source in zip(KINDS, node.input[1:5], strict=True):
        m.weights[f"{name}.{kind}"] = m.const(source, node)
    m.note(
        "BatchNormalization",
        "scale, B, mean, var -> gamma, beta, moving_mean, moving_var; momentum is the share "
        "of the running statistic kept, as in ONNX (PyTorch's 0.1 is ONNX's 0.9)",
    )
    m.places[node.output[0]] = dataclasses.replace(x, layer=name)


def max_pool(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    if len([o for o in node.output if o]) > 1:
        raise refused(node, "its indices output is used; the spec's max pool has none")
    size, stride, padding = _window(node, attributes(node)["kernel_shape"])
    name = m.layer(node, "max_pool", [x.layer], size=size, stride=stride, padding=padding)
    m.places[node.output[0]] = Place(name, "image")


def avg_pool(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    size, stride, padding = _window(node, attributes(node)["kernel_shape"])
    if padding:
        raise refused(node, "average pooling with padding is not in the spec")
    name = m.layer(node, "avg_pool", [x.layer], size=size, stride=stride)
    m.places[node.output[0]] = Place(name, "image")


def global_pool(m: Mapping, node: onnx.NodeProto) -> None:
    x = m.place(node.input[0], node, ("image",))
    name = m.layer(node, "global_avg_pool", [x.layer])
    m.places[node.output[0]] = Place(name, "pooled")


def reduce_mean(m: Mapping, node: onnx.NodeProto) -> None:
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
