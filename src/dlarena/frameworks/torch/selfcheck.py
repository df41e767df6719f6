"""The mlp in plain PyTorch: nn.Sequential, SGD with momentum; 'compiled' is torch.compile."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlarena.selfcheck.loop import LAYERS, load, read_task, time_blocks

task = read_task()
torch.set_num_threads(task.intra_op)
torch.set_num_interop_threads(task.inter_op)
weights, data = load(task)
model = nn.Sequential(
    nn.Linear(256, 256),
    nn.ReLU(),
    nn.Linear(256, 256),
    nn.GELU(),
    nn.Linear(256, 128),
    nn.Tanh(),
    nn.Linear(128, 10),
)
with torch.no_grad():
    for layer, name in zip(model[::2], LAYERS, strict=True):
        layer.weight.copy_(torch.from_numpy(weights[f"{name}.kernel"].T.copy()))
        layer.bias.copy_(torch.from_numpy(weights[f"{name}.bias"]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
forward = torch.compile(model) if task.tier == "compiled" else model
batches = [(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))) for x, y in data]


def step(batch):
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(forward(batch[0]), batch[1])
    loss.backward()
    optimizer.step()
    return loss


time_blocks(step, lambda loss: loss.item(), batches, task)
