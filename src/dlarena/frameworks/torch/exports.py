"""PyTorch: ONNX through the dynamo exporter and the legacy TorchScript-based one, torch.export
(.pt2), TorchScript, and for devices ExecuTorch (.pte: lowered to XNNPACK, or the portable
kernels; run by ExecuTorch's runtime) and litert-torch (.tflite, run by LiteRT's interpreter).
ExecuTorch and litert-torch each pin their own companions, so they run in the on-demand
environments export-executorch and export-litert-torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlarena.probes.exports import (
    ExportPath,
    onnx_runtime,
    quantize_onnx,
    run_onnx,
    run_tflite,
    tflite_interpreter,
)


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


def _executorch(xnnpack: bool) -> Any:
    def export(adapter: Any, x: Any, folder: Path) -> Path:
        from executorch.exir import to_edge_transform_and_lower

        partitioners = []
        if xnnpack:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                XnnpackPartitioner,
            )

            partitioners.append(XnnpackPartitioner())
        program = torch.export.export(adapter.model.eval(), (x,))
        lowered = to_edge_transform_and_lower(program, partitioner=partitioners)
        target = folder / "model.pte"
        target.write_bytes(lowered.to_executorch().buffer)
        return target

    return export


def _executorch_load(artifact: Path, x: Any) -> Any:
    from executorch.runtime import Runtime

    return Runtime.get().load_program(str(artifact)).load_method("forward")


def _executorch_run(method: Any, x: Any) -> np.ndarray:
    return np.asarray(method.execute([x])[0])


def _litert(adapter: Any, x: Any, folder: Path) -> Path:
    import litert_torch

    target = folder / "model.tflite"
    litert_torch.convert(adapter.model.eval(), (x,)).export(str(target))
    return target


def _int8(adapter: Any, x: Any, folder: Path) -> Path:
    """torch.ao's dynamic quantization (Linear weights int8), traced to TorchScript."""
    import copy

    model = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(adapter.model).eval(), {torch.nn.Linear}, dtype=torch.qint8
    )
    target = folder / "model-int8.pt"
    torch.jit.save(torch.jit.trace(model, (x,)), str(target))
    return target


def _onnx_int8(adapter: Any, x: Any, folder: Path) -> Path:
    """The legacy exporter's ONNX file, quantized by ONNX Runtime (int8 weights)."""
    source = _onnx(False)(adapter, x, folder)
    return quantize_onnx(source, folder / "model-int8.onnx")


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
    "ExecuTorch (XNNPACK)": ExportPath(
        _executorch(True), _executorch_load, _executorch_run, "ExecuTorch runtime",
        needs="executorch",
    ),
    "ExecuTorch (portable)": ExportPath(
        _executorch(False), _executorch_load, _executorch_run, "ExecuTorch runtime",
        needs="executorch",
    ),
    "LiteRT via litert-torch": ExportPath(
        _litert, tflite_interpreter, run_tflite, "LiteRT interpreter", needs="litert_torch"
    ),
    "int8 dynamic (torch.ao)": ExportPath(
        _int8, lambda a, x: torch.jit.load(str(a)), _run, "torch", quantized=True,
        warns_about=("torch.ao.quantization", "torchao"),
    ),
    "onnx int8 (ONNX Runtime quantizer)": ExportPath(
        _onnx_int8, onnx_runtime, run_onnx, "onnxruntime", quantized=True,
        warns_about=("dynamo=false", "torchscript-based", "legacy"),
    ),
}  # fmt: skip
