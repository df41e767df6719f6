"""Mixed precision with the weights kept in bfloat16: an update smaller than half a bfloat16
step of its weight (2^-9 of it) is lost, so small learning rates stall."""

import torch

from dlarena.frameworks.base import Arrays
from dlarena.frameworks.torch.adapter import TorchAdapter
from dlarena.records import Setup
from dlarena.spec.model import Workload


class WeightsInBf16(TorchAdapter):
    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        super().__init__(workload, weights, tier, mode, setup)
        self.model.to(torch.bfloat16)  # parameters, and so the optimizer's state, in bfloat16
        self.optimizer = self._optimizer(workload)


ADAPTER = WeightsInBf16
