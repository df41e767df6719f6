"""Apache MXNet: the spec's model as Gluon blocks (layers.py) and a Gluon Trainer; 'compiled' is
hybridize(static_alloc=True, static_shape=True). Runs on numpy 1.23."""

from __future__ import annotations

from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from dlarena.frameworks.base import Arrays, TrainingAdapter, refuse_precision
from dlarena.frameworks.mxnet.layers import (
    Recurrent,
    TiedLogits,
    block_of,
    function_of,
    parameter,
    stateless,
)
from dlarena.frameworks.mxnet.optimizers import gluon_optimizer
from dlarena.records import Setup
from dlarena.spec.graph import fused_activations, is_chain
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.shapes import infer_shapes


def build_net(workload: Workload) -> tuple[gluon.HybridBlock, dict[str, gluon.Block]]:
    """A chain as HybridSequential (relu and tanh fused into Dense), any other graph as a
    GraphBlock; and the block behind each layer that has parameters."""
    if not is_chain(workload):
        graph = GraphBlock(workload)
        return graph, graph.named
    shapes = infer_shapes(workload)
    by_name = {layer.name: layer for layer in workload.layers}
    fused = {
        dense: by_name[act].op
        for dense, act in fused_activations(workload).items()
        if by_name[act].op in ("relu", "tanh", "sigmoid")
    }
    net, named = nn.HybridSequential(), {}
    for layer in workload.layers:
        if layer.inputs[0] in fused:
            continue  # this activation runs inside the dense layer before it
        block = block_of(layer, shapes[layer.inputs[0]], workload, fused.get(layer.name))
        if block is None:
            block = stateless(layer, len(shapes[layer.inputs[0]]) == 3)
        else:
            named[layer.name] = block
        net.add(block)
    return net, named


class GraphBlock(gluon.HybridBlock):
    """The spec's layer graph as one hybridizable block (NCHW inside)."""

    def __init__(self, workload: Workload):
        super().__init__()
        shapes = infer_shapes(workload)
        self.spec_layers = workload.layers
        self.named: dict[str, gluon.Block] = {}  # blocks with their own parameters
        self.tied: dict[str, gluon.Block] = {}
        self.functions = {
            layer.name: function_of(layer, len(shapes[layer.inputs[0]]) == 3)
            for layer in self.spec_layers
        }
        with self.name_scope():
            for layer in self.spec_layers:
                block = block_of(layer, shapes[layer.inputs[0]], workload)
                if block is not None:
                    self.register_child(block, layer.name)
                    self.named[layer.name] = block
                elif layer.op == "tied_logits":
                    tied = TiedLogits(self.named[layer.attr("embedding")])
                    self.register_child(tied, layer.name)
                    self.tied[layer.name] = tied

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        values = {INPUT: x}
        for layer in self.spec_layers:
            ins = [values[name] for name in layer.inputs]
            values[layer.name] = self._apply(F, layer, ins)
        return values[self.spec_layers[-1].name]

    def _apply(self, F: Any, layer: Layer, ins: list[Any]) -> Any:
        if layer.name in self.named:
            return self.named[layer.name](*ins)  # a second input is attention's token ids
        if layer.name in self.tied:
            return self.tied[layer.name](ins[0])
        return self.functions[layer.name](F, ins)


def _to_mxnet(key: str, value: np.ndarray, context: mx.Context) -> mx.nd.NDArray:
    if key.endswith("kernel"):
        value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
    return mx.nd.array(np.ascontiguousarray(value), ctx=context)


def _to_canonical(key: str, value: mx.nd.NDArray) -> np.ndarray:
    array = value.asnumpy()
    if key.endswith("kernel"):
        array = array.T if array.ndim == 2 else array.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(array)


# MXNet 1.9 has bfloat16 AMP (mxnet.contrib.amp.init(target_dtype="bfloat16")), but it rewrites
# the operators process-wide and cannot be undone: a parity checker building a float32 model
# after a bfloat16 one would check the wrong thing. Not written yet.
MIXED_REFUSED = (
    "MXNet's AMP (mxnet.contrib.amp.init) converts operators process-wide and cannot be undone "
    "within a process; dlarena does not run it yet"
)


class MxnetAdapter(TrainingAdapter):
    @classmethod
    def forget(cls) -> None:
        mx.nd.waitall()  # MXNet keeps nothing across models once their work is done

    @classmethod
    def configure(cls, intra_op: int, inter_op: int, device: str) -> Setup:
        # Threads come from OMP_NUM_THREADS, set by the launcher before this process started.
        return Setup(
            framework_version=mx.__version__,
            device=str(mx.gpu(0) if device == "gpu" else mx.cpu()),
            intra_op_threads=intra_op,
            extras=(("mkldnn", str(mx.runtime.Features().is_enabled("MKLDNN"))),),
        )

    def __init__(self, workload: Workload, weights: Arrays, tier: str, mode: str, setup: Setup):
        refuse_precision("mxnet", workload, MIXED_REFUSED)
        self.context = mx.gpu(0) if setup.device.startswith("gpu") else mx.cpu()
        self.net, named = build_net(workload)
        self.net.initialize(ctx=self.context)
        for block in named.values():
            if isinstance(block, Recurrent):
                block.freeze()
        self.params = {}
        for key, value in weights.items():
            layer, kind = key.rsplit(".", 1)
            param = parameter(named[layer], kind)
            param.set_data(_to_mxnet(key, value, self.context))
            self.params[key] = param
        self.trainable = {k: p for k, p in self.params.items() if p.grad_req != "null"}
        self.trainer = gluon.Trainer(
            self.net.collect_params(), *gluon_optimizer(workload.optimizer)
        )
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        if tier == "compiled":
            self.net.hybridize(static_alloc=True, static_shape=True)

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        return (  # token ids as float32 too: Gluon's Embedding reads them so
            mx.nd.array(np.ascontiguousarray(x), ctx=self.context, dtype=np.float32),
            mx.nd.array(y.astype(np.float32), ctx=self.context),
        )

    def infer(self, batch: Any) -> Any:
        return self.net(batch[0])

    def _loss(self, batch: Any) -> Any:
        """Per-sample losses, backpropagated (their sum: Trainer.step divides by the batch)."""
        with autograd.record():
            losses = self.loss_fn(self.net(batch[0]), batch[1])
        losses.backward()
        return losses

    def train_step(self, batch: Any) -> Any:
        losses = self._loss(batch)
        self.trainer.step(batch[0].shape[0])
        return losses

    def sync(self, handle: Any) -> None:
        mx.nd.waitall()  # MXNet's engine is asynchronous: wait for every pending op

    def to_numpy(self, handle: Any) -> np.ndarray:
        value = handle.asnumpy()
        return value if value.ndim > 1 else np.asarray(value.mean())  # logits, or the mean loss

    def allocator_peak_mb(self) -> float | None:
        return None  # MXNet reports free and total device memory, never a peak

    def loss_and_grads(self, batch: Any) -> tuple[float, Arrays]:
        losses = self._loss(batch)
        rows = batch[0].shape[0]  # the backward pass summed over the rows
        return float(losses.mean().asscalar()), {
            k: _to_canonical(k, p.grad(self.context)) / rows for k, p in self.trainable.items()
        }

    def parameters(self) -> Arrays:
        return {k: _to_canonical(k, p.data(self.context)) for k, p in self.trainable.items()}


ADAPTER = MxnetAdapter
