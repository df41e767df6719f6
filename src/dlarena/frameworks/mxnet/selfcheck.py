"""The mlp in plain Gluon + Trainer; 'compiled' is hybridize(static_alloc, static_shape)."""

import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

from dlarena.selfcheck.loop import LAYERS, load, read_task, time_blocks

task = read_task()  # threads: OMP_NUM_THREADS, set before this process started
weights, data = load(task)
net = nn.HybridSequential()
net.add(
    nn.Dense(256, in_units=256, activation="relu"),
    nn.Dense(256, in_units=256),
    nn.GELU(),
    nn.Dense(128, in_units=256, activation="tanh"),
    nn.Dense(10, in_units=128),
)
net.initialize()
dense = [block for block in net if isinstance(block, nn.Dense)]
for block, name in zip(dense, LAYERS, strict=True):
    block.weight.set_data(mx.nd.array(weights[f"{name}.kernel"].T))
    block.bias.set_data(mx.nd.array(weights[f"{name}.bias"]))
if task.tier == "compiled":
    net.hybridize(static_alloc=True, static_shape=True)
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
batches = [(mx.nd.array(x), mx.nd.array(y)) for x, y in data]


def step(batch):
    with autograd.record():
        loss = loss_fn(net(batch[0]), batch[1])
    loss.backward()
    trainer.step(batch[0].shape[0])
    return loss


time_blocks(step, lambda loss: mx.nd.waitall(), batches, task)
