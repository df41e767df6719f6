"""PyTorch: nn.Sequential of the spec's layers (layers.py) for a chain, else an nn.Module walking
the spec's graph; 'compiled' is torch.compile."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.frameworks.torch.layers import function_of, module_of, stateless
from dlarena.records import Setup
from dlarena.spec.graph import is_chain
from dlarena.spec.model import ATTENTION_PARTS, INPUT, Workload
from dlarena.spec.shapes import infer_shapes


def build_model(workload: Workload) -> tuple[nn.Module, str]:
    """A chain as nn.Sequential (what a user writes), any other graph as a GraphModule; and the
    prefix of its parameter names."""
    if not is_chain(workload):
        return GraphModule(workload), "blocks."
    shapes = infer_shapes(workload)
    modules = OrderedDict(
        (layer.name, module_of(layer, shapes[layer.inputs[0]], workload) or stateless(layer))
        for layer in workload.layers
    )
    return nn.Sequential(modules), ""


class GraphModule(nn.Module):
    """The spec's layer graph as one module (NCHW inside)."""

    def __init__(self, workload: Workload):
        super().__init__()
        shapes = infer_shapes(workload)
        self.layers = workload.layers
        self.blocks = nn.ModuleDict()
        self.functions = {}
        for layer in self.layers:
            block = module_of(layer, shapes[layer.inputs[0]], workload)
            if block is not None:
                self.blocks[layer.name] = block
            elif layer.op != "tied_logits":
                self.functions[layer.name] = function_of(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        for layer in self.layers:
            ins = [values[name] for name in layer.inputs]
            if layer.name in self.blocks:  # a second input is attention's token ids
                values[layer.name] = self.blocks[layer.name](*ins)
            elif layer.op == "tied_logits":  # the embedding's table, shared
                table = self.blocks[layer.attr("embedding")].table.weight
                values[layer.name] = F.linear(ins[0], table)
            else:
                values[layer.name] = self.functions[layer.name](ins)
        return values[self.layers[-1].name]


def _to_torch(key: str, value: np.ndarray) -> torch.Tensor:
    """Canonical layout to torch's: dense and projections (out, in), conv (out, in, kh, kw)."""
    if key.endswith("kernel"):
        value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(value))


def _to_canonical(key: str, value: torch.Tensor) -> np.ndarray:
    array = value.detach().float().cpu().numpy()  # float32 (numpy has no bfloat16)
    if key.endswith("kernel"):
        array = array.T if array.ndim == 2 else array.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(array)


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over every label: a row's class, or each token of a sequence; in float32 whatever
    precision the logits were computed in (as the mixed-precision recipes do)."""
    return F.cross_entropy(logits.float().flatten(0, -2), labels.flatten())


# Mixed precision: torch.autocast over float32 parameters; float16 scales the loss
# (torch.amp.GradScaler), bfloat16 needs no scaling (float32's exponent range)
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


_NOT_CANONICAL = ("num_batches_tracked", "bias_hh_l0")
_TORCH_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_var": "running_var",
    "table": "table.weight",
    "input_kernel": "lstm.weight_ih_l0",
    "recurrent_kernel": "lstm.weight_hh_l0",
    "gate_bias": "lstm.bias_ih_l0",
    "positions": "positions",
    **{f"{part}_{kind}": f"{part}.{name}" for part in ATTENTION_PARTS
       for kind, name in (("kernel", "weight"), ("bias", "bias"))},
}  # fmt: skip


class TorchAdapter(TrainingAdapter):
    @classmethod
    def forget(cls) -> None:
        # torch.compile recompiles GraphModule.forward for every new model, and falls back
        # to eager after its recompile limit: each model gets a fresh dynamo.
        torch._dynamo.reset()

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
        self.precision = workload.precision
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None
        self.model, self.prefix = build_model(workload)
        self.keys = {self._torch_key(k): k for k in weights}
        state = {self._torch_key(k): _to_torch(k, v) for k, v in weights.items()}
        loaded = self.model.load_state_dict(state, strict=False)
        # only BatchNorm's step counter and the LSTM's frozen zero hidden bias may be missing
        missed = [k for k in loaded.missing_keys if not k.endswith(_NOT_CANONICAL)]
        if missed or loaded.unexpected_keys:
            raise ValueError(f"weights do not fit: {missed + loaded.unexpected_keys}")
        self.model.to(self.device).train(mode == "train")
        self.optimizer = self._optimizer(workload)
        self.schedule = self._schedule(workload)
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
        betas = (c.beta1, c.beta2)
        if c.name == "adamw":
            return torch.optim.AdamW(
                params, lr=c.learning_rate, betas=betas, eps=c.epsilon, weight_decay=c.weight_decay
            )
        return torch.optim.Adam(params, lr=c.learning_rate, betas=betas, eps=c.epsilon)

    def _schedule(self, workload: Workload) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The spec's schedule as a LambdaLR (its factor of step 0 rules the first update)."""
        c = workload.optimizer
        if c.schedule == "constant":
            return None
        return torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: float(c.learning_rate_at(step, np)) / c.learning_rate
        )

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        return xt, torch.from_numpy(y.astype(np.int64)).to(self.device)

    def _forward(self, module: Any, x: torch.Tensor) -> torch.Tensor:
        """The model at the workload's precision: float32, or under torch.autocast."""
        if self.precision == "fp32":
            return module(x)
        with torch.autocast(self.device.type, dtype=_AUTOCAST[self.precision]):
            return module(x)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _cross_entropy(logits, labels)

    def infer(self, batch: Any) -> Any:
        if self.model.training:  # a training model evaluated between steps (dlarena converge)
            return self._evaluate(batch)
        with torch.inference_mode():
            return self._forward(self.run, batch[0])

    def _evaluate(self, batch: Any) -> Any:
        """Inference as the other frameworks' is: batch norm reads its running statistics (and
        leaves them as they are), no dropout; then back to training."""
        self.model.train(False)
        try:
            with torch.inference_mode():
                return self._forward(self.run, batch[0])
        finally:
            self.model.train(True)

    def train_step(self, batch: Any) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(self._forward(self.run, batch[0]), batch[1])
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:  # float16: scaled backward, unscaled step (skipped on inf/nan), new scale
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        if self.schedule is not None:
            self.schedule.step()
        return loss

    def sync(self, handle: Any) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def to_numpy(self, handle: Any) -> np.ndarray:
        return handle.detach().float().cpu().numpy()  # numpy has no bfloat16

    def allocator_peak_mb(self) -> float | None:
        if self.device.type != "cuda":
            return None  # the CPU allocator keeps no peak: the worker samples its RSS
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        self.model.zero_grad(set_to_none=True)
        loss = self._loss(self._forward(self.model, batch[0]), batch[1])
        loss.backward()
        grads = {
            self.keys[name]: _to_canonical(self.keys[name], p.grad)
            for name, p in self.model.named_parameters()
            if p.requires_grad
        }
        self.model.zero_grad(set_to_none=True)
        return float(loss), grads

    def parameters(self) -> Arrays:
        return {
            self.keys[name]: _to_canonical(self.keys[name], p)
            for name, p in self.model.named_parameters()
            if p.requires_grad
        }


ADAPTER = TorchAdapter
