"""PyTorch: ONNX through the dynamo exporter and the legacy TorchScript-based one, torch.export
(.pt2) and TorchScript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlarena.probes.exports import ExportPath, onnx_runtime, run_onnx


def _onnx(dynamo: bool) -> Any:
    def export(adapter: Any, x: Any, folder: Path) -> Path:
        target = folder / "model.onnx"
        torch.onnx.export(adapter.model, (x,), str(target), dynamo=dynamo)
        return target

    return export


def _pt2(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "model.pt2"
    torch.export.save(torch.export.export(adapter.model, (x,)), str(target))
    return target


def _script(adapter: Any, x: Any, folder: Path) -> Path:
    target = folder / "model.pt"
    torch.jit.save(torch.jit.trace(adapter.model, (x,)), str(target))
    return target


def _run(module: Any, x: Any) -> np.ndarray:
    with torch.inference_mode():
        return module(x).numpy()


PATHS = {
    "onnx (dynamo exporter)": ExportPath(_onnx(True), onnx_runtime, run_onnx, "onnxruntime"),
    "onnx (legacy exporter)": ExportPath(
        _onnx(False),
        onnx_runtime,
        run_onnx,
        "onnxruntime",
        warns_about=("dynamo=false", "torchscript-based", "legacy"),
    ),  # fmt: skip
    "torch.export (.pt2)": ExportPath(
        _pt2, lambda a, x: torch.export.load(str(a)).module(), _run, "torch"
    ),
    "TorchScript": ExportPath(
        _script,
        lambda a, x: torch.jit.load(str(a)),
        _run,
        "torch",
        deprecated="TorchScript is in maintenance; PyTorch points to torch.export",
        warns_about=("torchscript", "torch.jit"),
    ),
}
