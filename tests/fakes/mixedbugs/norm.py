"""Mixed precision with batch norm's statistics summed in bfloat16: the batch mean and variance
accumulated element by element in a bfloat16 running sum (the stagnation float32 reductions
exist to prevent: once the sum is 2^8 times an element, the element is rounded away), the rest
as PyTorch does it."""

import torch
from torch import nn

from dlarena.frameworks.base import Arrays
from dlarena.frameworks.torch.adapter import TorchAdapter
from dlarena.records import Setup
from dlarena.spec.model import Workload


def _bf16_mean(rows: torch.Tensor) -> torch.Tensor:
    """The mean over dim 1 through a running sum kept in bfloat16."""
    total = torch.zeros(rows.shape[0], dtype=torch.bfloat16)
    for column in rows.to(torch.bfloat16).unbind(dim=1):
        total = total + column
    return total.float() / rows.shape[1]


class Bf16StatisticsNorm(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        rows = x.float().transpose(0, 1).flatten(1)  # (channels, batch x height x width)
        mean = _bf16_mean(rows)
        var = _bf16_mean((rows - mean[:, None]) ** 2)
        shape = (1, -1, 1, 1)
        normed = (x.float() - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return (normed * self.weight.view(shape) + self.bias.view(shape)).to(x.dtype)


def _swap(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            swapped = Bf16StatisticsNorm(child.num_features, child.eps, child.momentum)
            swapped.load_state_dict(child.state_dict())
            setattr(module, name, swapped)
        else:
            _swap(child)


class NormInBf16(TorchAdapter):
    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        super().__init__(workload, weights, tier, mode, setup)
        _swap(self.model)
        self.optimizer = self._optimizer(workload)  # over the swapped layers' parameters


ADAPTER = NormInBf16
