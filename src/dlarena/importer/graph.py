"""An ONNX file read into a graph the mapper can walk: checked by the `onnx` package, its batch
pinned, every tensor's shape inferred (onnx's shape inference), and the constant subgraphs that
exporters leave behind folded (onnx's reference evaluator), so what is left computes on data."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from dlarena.errors import ImportRefused

FLOAT = onnx.TensorProto.FLOAT
IDS = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)  # token ids


@dataclasses.dataclass
class Graph:
    """What is left to map, in order, and everything known about its tensors."""

    nodes: list[onnx.NodeProto]
    constants: dict[str, np.ndarray]  # initializers and folded subgraphs
    named: set[str]  # the constants that were initializers (a model's named weights)
    shapes: dict[str, tuple[int, ...]]  # every tensor, batch included
    input: str
    output: str
    batch: int  # the batch the graph was pinned to (an exported model may fix its own)
    fixed: bool  # the file fixes its batch: it runs that many rows at a time
    tokens: bool  # the input is token ids (batch, sequence)
    opsets: list[onnx.OperatorSetIdProto]
    # what the file's output is over `output`, the logits: a trailing Softmax or LogSoftmax the
    # import took off (spec.model.OUTPUTS)
    applies: str = "logits"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[self.input]

    # who makes and who reads each tensor, built once per state of `nodes` (replace() is the one
    # change made to them): the pattern passes ask for both at every node they look at
    _index: tuple[dict[str, onnx.NodeProto], dict[str, list[onnx.NodeProto]]] | None = (
        dataclasses.field(default=None, init=False, repr=False, compare=False)
    )

    def producers(self) -> dict[str, onnx.NodeProto]:
        return self._indexes()[0]

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return self._indexes()[1].get(name, [])

    def replace(
        self, gone: list[onnx.NodeProto], new: onnx.NodeProto, at: onnx.NodeProto | None = None
    ) -> None:
        """`new` where `at` was (by default the last of `gone` in graph order); `gone` out."""
        ids = {id(node) for node in gone}
        place = id(at) if at is not None else next(id(n) for n in self.nodes[::-1] if id(n) in ids)
        self.nodes[:] = [
            new if id(node) == place else node
            for node in self.nodes
            if id(node) == place or id(node) not in ids
        ]
        self.forget()

    def forget(self) -> None:
        """Drops the indexes, after a change to `nodes`."""
        self._index = None

    def _indexes(self) -> tuple[dict[str, onnx.NodeProto], dict[str, list[onnx.NodeProto]]]:
        if self._index is None:
            made = {out: node for node in self.nodes for out in node.output}
            used: dict[str, list[onnx.NodeProto]] = {}
            for node in self.nodes:
                for name in dict.fromkeys(node.input):
                    used.setdefault(name, []).append(node)
            self._index = (made, used)
        return self._index


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded)."""
    found = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in found.items()}


def label(node: onnx.NodeProto) -> str:
    return node.name or node.output[0]


def read(path: Path, batch: int | None, shape: tuple[int, ...] | None = None) -> Graph:
    """The file's graph with its batch pinned (to `batch`, or the one the model fixes) and its
    other dynamic dimensions to `shape` (the input's dimensions after the batch), shapes
    inferred and constants folded; one ImportRefused for anything that stops that."""
    model = _load(path)
    weights = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ImportRefused(
            f"{path}: the graph has {len(inputs)} inputs and {len(model.graph.output)} outputs; "
            "dlarena imports models with one input and one output (the logits)"
        )
    pinned, fixed = _pin(path, inputs[0], batch)
    _pin_shape(path, inputs[0], shape)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ImportRefused(f"{path}: onnx's shape inference fails: {_first_line(exc)}") from None
    shapes = _shapes(model)
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    named = set(constants)
    nodes = _fold(list(model.graph.node), constants, shapes, list(model.opset_import))
    return Graph(
        nodes=nodes,
        constants=constants,
        named=named,
        shapes=shapes,
        input=inputs[0].name,
        output=model.graph.output[0].name,
        batch=pinned,
        fixed=fixed,
        tokens=inputs[0].type.tensor_type.elem_type in IDS,
        opsets=list(model.opset_import),
    )


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ImportRefused(f"{path} does not exist; give the path of an .onnx file")
    try:
        model = onnx.load(str(path))
    except DecodeError:
        raise ImportRefused(
            f"{path} is not an ONNX model (malformed or truncated); export it again"
        ) from None
    except (FileNotFoundError, OSError, onnx.checker.ValidationError) as exc:  # external data
        raise ImportRefused(
            f"{path}: its weights are kept in a separate file that cannot be read "
            f"({_first_line(exc)}); put the external-data files beside the model"
        ) from None
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ImportRefused(f"{path} is not a valid ONNX model: {_first_line(exc)}") from None
    return model


def _pin(path: Path, value: onnx.ValueInfoProto, batch: int | None) -> tuple[int, bool]:
    """The input's batch set to `batch` where it is dynamic (a fixed one is the model's own);
    any other dynamic dimension is refused. Returns the batch the graph now has, and whether
    the file fixed it."""
    tensor = value.type.tensor_type
    if tensor.elem_type != FLOAT and tensor.elem_type not in IDS:
        name = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        raise ImportRefused(
            f"{path}: input '{value.name}' is {name}; dlarena imports models over float32 "
            "features or images, or over token ids (int64 or int32)"
        )
    dims = list(tensor.shape.dim)
    if not dims:
        raise ImportRefused(f"{path}: input '{value.name}' has no shape; export it with one")
    if dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        return int(dims[0].dim_value), True
    dims[0].Clear()
    dims[0].dim_value = batch or 1
    return batch or 1, False


def _pin_shape(path: Path, value: onnx.ValueInfoProto, shape: tuple[int, ...] | None) -> None:
    """The input's dimensions after the batch set to `shape` where the file leaves them dynamic
    (one it fixes must agree); without `shape`, a dynamic one is refused, naming it."""
    dims = list(value.type.tensor_type.shape.dim)[1:]
    if shape is not None and len(shape) != len(dims):
        given = f"{len(shape)} ({'x'.join(map(str, shape))})"
        raise ImportRefused(
            f"{path}: --shape gives {given} dimensions after the batch; input '{value.name}' "
            f"has {len(dims)}"
        )
    for index, dim in enumerate(dims):
        fixed = dim.dim_value if dim.HasField("dim_value") else None
        if shape is None and fixed is None:
            raise ImportRefused(
                f"{path}: input '{value.name}' has a dynamic dimension '{dim.dim_param}' beyond "
                "the batch; pin it with --shape (the sizes after the batch, e.g. 3x224x224 or "
                "128), or export the model with fixed sizes"
            )
        if shape is not None and fixed is not None and fixed != shape[index]:
            raise ImportRefused(
                f"{path}: input '{value.name}' fixes dimension {index + 1} to {fixed}; --shape "
                f"says {shape[index]}"
            )
        if shape is not None:
            dim.Clear()
            dim.dim_value = shape[index]


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    graph = model.graph
    for value in (*graph.input, *graph.value_info, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(tensor.dims)
    return shapes


def _fold(
    nodes: list[onnx.NodeProto],
    constants: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, ...]],
    opsets: list[onnx.OperatorSetIdProto],
) -> list[onnx.NodeProto]:
    """Evaluates, in order, every node whose inputs are all known: Constant, Shape of a tensor
    whose shape inference pinned, and anything computed from those (position ids, masks built
    with ConstantOfShape, Expand, Equal and Where, transposed weights). Returns the rest."""
    left = []
    for node in nodes:
        value = _constant_value(node, constants, shapes, opsets)
        if value is None:
            left.append(node)
            continue
        for name, array in zip(node.output, value, strict=False):
            constants[name] = np.asarray(array)
            shapes[name] = tuple(np.shape(array))
    return left


def _constant_value(
    node: onnx.NodeProto,
    constants: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, ...]],
    opsets: list[onnx.OperatorSetIdProto],
) -> list[Any] | None:
    inputs = [name for name in node.input if name]
    if node.op_type == "Shape" and inputs[0] in shapes:
        found = attributes(node)
        dims = shapes[inputs[0]][found.get("start", 0) : found.get("end")]
        return [np.array(dims, dtype=np.int64)]
    if node.op_type == "CastLike" and inputs[0] in constants:  # data tensors are float32
        like = constants.get(inputs[1], np.zeros((), np.float32))
        return [np.asarray(constants[inputs[0]]).astype(like.dtype)]
    if node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike"):
        return None
    if node.op_type != "Constant" and not (inputs and all(n in constants for n in inputs)):
        return None
    values = {n: constants[n] for n in inputs}
    typed = [onnx.helper.make_tensor_value_info(n, _dtype(v), None) for n, v in values.items()]
    untyped = onnx.TensorProto.UNDEFINED
    outputs = [onnx.helper.make_tensor_value_info(n, untyped, None) for n in node.output]
    model = onnx.helper.make_model(
        onnx.helper.make_graph([node], "fold", typed, outputs), opset_imports=opsets
    )
    try:
        return list(ReferenceEvaluator(model).run(None, values))
    except Exception:  # an op the reference evaluator lacks: leave it to the mapper to name
        return None


def _dtype(array: np.ndarray) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.asarray(array).dtype)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
