"""MXNet: HybridBlock.export (symbol JSON and parameters) loaded back with SymbolBlock.imports;
ONNX through mx.onnx needs onnx<=1.18 (an environment of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mxnet as mx
from mxnet import gluon

from dlarena.probes.exports import ExportPath, elsewhere


def _export(adapter: Any, x: Any, folder: Path) -> Path:
    adapter.net.hybridize(static_alloc=True, static_shape=True)
    adapter.net(x)  # a hybridized block exports the graph of its last call
    prefix = folder / "model"
    adapter.net.export(str(prefix))
    return prefix


def _imports(prefix: Path, x: Any) -> Any:
    return gluon.SymbolBlock.imports(
        f"{prefix}-symbol.json", ["data"], f"{prefix}-0000.params", ctx=mx.cpu()
    )


PATHS = {
    "HybridBlock.export": ExportPath(
        _export, _imports, lambda block, x: block(x).asnumpy(), "mxnet"
    ),
    "onnx (mx.onnx)": elsewhere("onnxruntime", "onnx"),
}
