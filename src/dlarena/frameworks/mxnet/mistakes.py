"""MXNet: Gluon eager (imperative NDArray, asynchronous engine), and a hybridized block."""

from collections.abc import Callable

import mxnet as mx
from mxnet import gluon

from dlarena.probes.mistakes import W_SHAPE, W, X

Stage = Callable[[str], None]
NAN_MODE = None  # MXNet has no mode that checks for NaN as ops run


class MatMul(gluon.HybridBlock):
    def hybrid_forward(self, F: object, x: object, w: object) -> object:
        return F.dot(x, w)  # FAULT


class LogShift(gluon.HybridBlock):
    def hybrid_forward(self, F: object, x: object, w: object) -> object:
        return F.dot(F.log(x - 10.0), w)  # FAULT


def _run(block: gluon.HybridBlock, tier: str, stage: Stage, x: object, w: object) -> object:
    if tier == "compiled":
        block.hybridize(static_alloc=True, static_shape=True)
    stage("call")
    out = block(x, w)
    stage("sync")
    return out.asnumpy()


def shape(tier: str, stage: Stage) -> object:
    return _run(MatMul(), tier, stage, mx.nd.array(X), mx.nd.array(W_SHAPE))


def dtype(tier: str, stage: Stage) -> object:
    x = mx.nd.array(X, dtype="float64")
    return _run(MatMul(), tier, stage, x, mx.nd.array(W))


def nan(tier: str, stage: Stage) -> object:
    return _run(LogShift(), tier, stage, mx.nd.array(X), mx.nd.array(W))


nan_check = None
