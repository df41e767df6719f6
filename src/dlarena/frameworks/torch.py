"""PyTorch: nn.Sequential for a chain of layers, else an nn.Module walking the spec's graph;
'compiled' is torch.compile."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.records import Setup
from dlarena.spec.graph import is_chain
from dlarena.spec.model import INPUT, Layer, Workload, infer_shapes

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}
_ACTIVATION_MODULES = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _module(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module | None:
    channels = in_shape[-1]
    if layer.op == "dense":
        return nn.Linear(channels, layer.attr("units"), bias=layer.attr("bias"))
    if layer.op == "conv2d":
        return nn.Conv2d(
            channels,
            layer.attr("filters"),
            layer.attr("kernel"),
            layer.attr("stride"),
            layer.attr("padding"),
            bias=layer.attr("bias"),
        )
    if layer.op == "batch_norm":
        norm = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        # torch's momentum is the weight of the new batch statistic.
        return norm(channels, eps=layer.attr("epsilon"), momentum=1.0 - layer.attr("momentum"))
    if layer.op == "max_pool":
        return nn.MaxPool2d(layer.attr("size"), layer.attr("stride"))
    if layer.op == "avg_pool":
        return nn.AvgPool2d(layer.attr("size"), layer.attr("stride"))
    return None


def build_model(workload: Workload) -> tuple[nn.Module, str]:
    """A chain as nn.Sequential (what a user writes), any other graph as a GraphModule; and the
    prefix of its parameter names."""
    if not is_chain(workload):
        return GraphModule(workload), "blocks."
    shapes = infer_shapes(workload)
    modules = OrderedDict(
        (layer.name, _module(layer, shapes[layer.inputs[0]]) or _stateless(layer.op))
        for layer in workload.layers
    )
    return nn.Sequential(modules), ""


def _stateless(op: str) -> nn.Module:
    return GlobalAvgPool() if op == "global_avg_pool" else _ACTIVATION_MODULES[op]()


class GraphModule(nn.Module):
    """The spec's layer graph as one module (NCHW inside)."""

    def __init__(self, workload: Workload):
        super().__init__()
        shapes = infer_shapes(workload)
        self.layers = workload.layers
        self.blocks = nn.ModuleDict()
        for layer in self.layers:
            block = _module(layer, shapes[layer.inputs[0]])
            if block is not None:
                self.blocks[layer.name] = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        for layer in self.layers:
            ins = [values[name] for name in layer.inputs]
            if layer.name in self.blocks:
                values[layer.name] = self.blocks[layer.name](ins[0])
            elif layer.op == "add":
                values[layer.name] = ins[0] + ins[1]
            elif layer.op == "global_avg_pool":
                values[layer.name] = ins[0].mean(dim=(2, 3))
            else:
                values[layer.name] = _ACTIVATIONS[layer.op](ins[0])
        return values[self.layers[-1].name]


def _to_torch(key: str, value: np.ndarray) -> torch.Tensor:
    """Canonical layout to torch's: dense (out, in), conv (out, in, kh, kw)."""
    if key.endswith(".kernel"):
        value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(value))


def _to_canonical(key: str, value: torch.Tensor) -> np.ndarray:
    array = value.detach().cpu().numpy()
    if key.endswith(".kernel"):
        array = array.T if array.ndim == 2 else array.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(array)


_TORCH_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_var": "running_var",
}


class TorchAdapter(TrainingAdapter):
    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        torch.set_num_threads(intra_op)
        torch.set_num_interop_threads(inter_op)
        return Setup(
            framework_version=torch.__version__,
            device="cuda" if device == "gpu" else "cpu",
            intra_op_threads=torch.get_num_threads(),
            inter_op_threads=torch.get_num_interop_threads(),
            extras=(
                ("mkldnn", str(torch.backends.mkldnn.is_available())),
                ("blas", torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]),
            ),
        )

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        self.device = torch.device(setup.device)
        self.model, self.prefix = build_model(workload)
        self.keys = {self._torch_key(k): k for k in weights}
        state = {self._torch_key(k): _to_torch(k, v) for k, v in weights.items()}
        loaded = self.model.load_state_dict(state, strict=False)
        missed = [k for k in loaded.missing_keys if not k.endswith("num_batches_tracked")]
        if missed or loaded.unexpected_keys:  # only BatchNorm's step counter may be missing
            raise ValueError(f"weights do not fit: {missed + loaded.unexpected_keys}")
        self.model.to(self.device).train(mode == "train")
        self.optimizer = self._optimizer(workload)
        # dynamic=False: one static graph per shape (the batch, batch 1), as a serving loop has.
        self.run = torch.compile(self.model, dynamic=False) if tier == "compiled" else self.model

    def _torch_key(self, key: str) -> str:
        layer, kind = key.rsplit(".", 1)
        return f"{self.prefix}{layer}.{_TORCH_NAMES[kind]}"

    def _optimizer(self, workload: Workload) -> torch.optim.Optimizer:
        c = workload.optimizer
        params = self.model.parameters()
        if c.name == "sgd":
            return torch.optim.SGD(params, lr=c.learning_rate, momentum=c.momentum)
        return torch.optim.Adam(params, lr=c.learning_rate, betas=(c.beta1, c.beta2), eps=c.epsilon)

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        return xt, torch.from_numpy(y.astype(np.int64)).to(self.device)

    def infer(self, batch: Any) -> Any:
        with torch.inference_mode():
            return self.run(batch[0])

    def train_step(self, batch: Any) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.run(batch[0]), batch[1])
        loss.backward()
        self.optimizer.step()
        return loss

    def sync(self, handle: Any) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def to_numpy(self, handle: Any) -> np.ndarray:
        return handle.detach().cpu().numpy()

    def allocator_peak_mb(self) -> float | None:
        if self.device.type != "cuda":
            return None  # the CPU allocator keeps no peak: the worker samples its RSS
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        self.model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(batch[0]), batch[1])
        loss.backward()
        grads = {
            self.keys[name]: _to_canonical(self.keys[name], p.grad)
            for name, p in self.model.named_parameters()
        }
        self.model.zero_grad(set_to_none=True)
        return float(loss), grads

    def parameters(self) -> Arrays:
        return {
            self.keys[name]: _to_canonical(self.keys[name], p)
            for name, p in self.model.named_parameters()
        }


ADAPTER = TorchAdapter
