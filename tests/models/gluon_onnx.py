"""Builds a small Gluon CNN (MXNet: conv, batch norm with non-trivial statistics, max and
global average pooling, flatten, dense layers with tanh) with random weights and exports it with
`mx.onnx.export_model`, as an MXNet user leaving the framework would (run in the
export-mxnet-onnx environment: `python gluon_onnx.py OUTDIR`)."""

from __future__ import annotations

import sys
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet.gluon import nn


def main(out: Path) -> None:
    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(8, 3, padding=1, in_channels=3), nn.BatchNorm(in_channels=8),
        nn.Activation("relu"), nn.MaxPool2D(2),
        nn.Conv2D(8, 3, padding=1, use_bias=False, in_channels=8), nn.BatchNorm(in_channels=8),
        nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten(),
        nn.Dense(16, activation="tanh", in_units=8), nn.Dense(4, in_units=16),
    )  # fmt: skip
    net.initialize(mx.init.Xavier())
    for name, param in net.collect_params().items():  # statistics and weights a trained net has
        moved = mx.nd.random.uniform(0.1, 0.5, param.shape) if "var" in name else (
            mx.nd.random.normal(0, 0.1, param.shape)
        )  # fmt: skip
        param.set_data(param.data() + moved)
    net.hybridize()
    net(mx.nd.random.normal(shape=(4, 3, 12, 12)))
    net.export(str(out / "gluon"))
    mx.onnx.export_model(
        str(out / "gluon-symbol.json"), str(out / "gluon-0000.params"), [(4, 3, 12, 12)],
        [np.float32], str(out / "gluon.onnx"),
    )  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
