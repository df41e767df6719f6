"""MXNet: HybridBlock.export (symbol JSON and parameters) loaded back with SymbolBlock.imports,
and ONNX through mx.onnx from that export, run in ONNX Runtime (mx.onnx needs an onnx and an
onnxruntime built for numpy 1.x: the on-demand environment export-mxnet-onnx). mx.onnx writes
the installed onnx's newest opset and takes no other; it knows operators up to opset 13, so
most graphs come out invalid under onnx 1.16 (opset 21). No onnx with a Python 3.11 wheel is
older than 1.13 (opset 18, where ReduceMean's axes became an input)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mxnet as mx
from mxnet import gluon

from dlarena.probes.exports import ExportPath, onnx_runtime, run_onnx


def _export(adapter: Any, x: Any, folder: Path) -> Path:
    adapter.net.hybridize(static_alloc=True, static_shape=True)
    adapter.net(x)  # a hybridized block exports the graph of its last call
    prefix = folder / "model"
    adapter.net.export(str(prefix))
    return prefix


def _onnx(adapter: Any, x: Any, folder: Path) -> Path:
    prefix = _export(adapter, x, folder)
    target = folder / "model.onnx"
    mx.onnx.export_model(
        f"{prefix}-symbol.json",
        f"{prefix}-0000.params",
        [tuple(x.shape)],
        [x.dtype],
        str(target),
    )
    return target


def _imports(prefix: Path, x: Any) -> Any:
    return gluon.SymbolBlock.imports(
        f"{prefix}-symbol.json", ["data"], f"{prefix}-0000.params", ctx=mx.cpu()
    )


PATHS = {
    "HybridBlock.export": ExportPath(
        _export, _imports, lambda block, x: block(x).asnumpy(), "mxnet"
    ),
    "onnx (mx.onnx)": ExportPath(
        _onnx, onnx_runtime, lambda s, x: run_onnx(s, x.asnumpy()), "onnxruntime", needs="onnx"
    ),
}
