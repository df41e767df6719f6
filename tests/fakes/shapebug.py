"""PyTorch whose training step goes wrong only at the workload's batch size, as a kernel
specialized to the timed shape can: its loss is scaled by 1.01 there, and at any other size it
is PyTorch's own."""

from typing import Any

from dlarena.frameworks.torch.adapter import TorchAdapter


class WrongAtTheTimedShape(TorchAdapter):
    def __init__(self, workload: Any, *args: Any) -> None:
        super().__init__(workload, *args)
        self.timed_rows = workload.batch_size

    def _loss(self, logits: Any, labels: Any) -> Any:
        loss = super()._loss(logits, labels)
        return loss * 1.01 if len(labels) == self.timed_rows else loss


ADAPTER = WrongAtTheTimedShape
