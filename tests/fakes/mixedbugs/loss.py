"""Mixed precision with the loss computed in bfloat16: the log-softmax and the mean of the
bfloat16 logits, never cast to float32."""

import torch

from dlarena.frameworks.torch.adapter import TorchAdapter


class LossInBf16(TorchAdapter):
    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits.to(torch.bfloat16).flatten(0, -2), dim=-1)
        return -log_p.gather(1, labels.flatten()[:, None]).mean()


ADAPTER = LossInBf16
