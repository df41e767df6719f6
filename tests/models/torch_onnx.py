"""Builds small PyTorch models with random weights and exports them to ONNX the ways users do
(run in the main environment: `python torch_onnx.py OUTDIR`). The import tests read them.

- mlp.onnx: Linear, ReLU, Tanh, Dropout, GELU, and a Softmax over the classes (a classifier
  that outputs probabilities); the dynamo exporter, a dynamic batch axis.
- cnn.onnx: conv with and without bias, a depthwise conv (groups = channels, a channel
  multiplier of 2) with ReLU6 (a Clip) and a grouped one, batch norm with non-trivial
  statistics, max and average pooling, a residual add, flatten, GELU; the TorchScript exporter
  at opset 17, which spells GELU with Erf and keeps batch norm (training=PRESERVE), with its
  batch fixed at 8.
- lstm.onnx: a text classifier, token embedding, LSTM (batch first), its last step, a dense
  head, a LogSoftmax; the dynamo exporter (ONNX's LSTM op between transposes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn


class Cnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.depthwise = nn.Conv2d(8, 16, 3, padding=1, groups=8)
        self.grouped = nn.Conv2d(16, 8, 1, groups=2, bias=False)
        self.block = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.block_bn = nn.BatchNorm2d(8)
        self.down = nn.AvgPool2d(2)
        self.head = nn.Linear(8 * 3 * 3, 16)
        self.gelu = nn.GELU()
        self.out = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.stem_bn(self.stem(x))))
        x = self.grouped(nn.functional.relu6(self.depthwise(x)))  # MobileNet's separable block
        x = self.down(x + torch.relu(self.block_bn(self.block(x))))
        return self.out(self.gelu(self.head(torch.flatten(x, 1))))


class Lstm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.out = nn.Linear(24, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        steps, _ = self.lstm(self.embed(ids))
        return torch.log_softmax(self.out(steps[:, -1]), dim=-1)


def main(out: Path) -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 24), nn.Tanh(), nn.Dropout(0.1),
        nn.Linear(24, 16), nn.GELU(), nn.Linear(16, 4), nn.Softmax(dim=1),
    ).eval()  # fmt: skip
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        mlp, (torch.randn(4, 20),), out / "mlp.onnx", dynamo=True, input_names=["x"],
        dynamic_shapes={"input": {0: batch}}, verbose=False,
    )  # fmt: skip
    cnn = Cnn()
    for bn in (cnn.stem_bn, cnn.block_bn):  # running statistics a trained model has
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    cnn.eval()
    torch.onnx.export(
        cnn, (torch.randn(8, 3, 12, 12),), out / "cnn.onnx", dynamo=False, opset_version=17,
        training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
        input_names=["images"], output_names=["logits"],
    )  # fmt: skip
    torch.onnx.export(
        Lstm().eval(), (torch.randint(1, 50, (4, 10)),), out / "lstm.onnx", dynamo=True,
        input_names=["ids"],
    )  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
