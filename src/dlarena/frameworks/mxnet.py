"""Apache MXNet: Gluon HybridSequential for a chain (else a HybridBlock over the spec's graph)
and a Gluon Trainer;
'compiled' is hybridize(static_alloc=True, static_shape=True). Runs on numpy 1.23."""

from __future__ import annotations

from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from dlarena.frameworks.base import Arrays, TrainingAdapter
from dlarena.records import Setup
from dlarena.spec.graph import fused_activations, is_chain
from dlarena.spec.model import INPUT, Layer, Workload, infer_shapes

_GLUON_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "running_mean",
    "moving_var": "running_var",
}


def _block(
    layer: Layer, in_shape: tuple[int, ...], activation: str | None = None
) -> gluon.Block | None:
    channels = in_shape[-1]
    if layer.op == "dense":
        return nn.Dense(
            layer.attr("units"),
            activation=activation,
            use_bias=layer.attr("bias"),
            in_units=channels,
            flatten=False,
        )
    if layer.op == "conv2d":
        return nn.Conv2D(
            layer.attr("filters"),
            layer.attr("kernel"),
            strides=layer.attr("stride"),
            padding=layer.attr("padding"),
            use_bias=layer.attr("bias"),
            in_channels=channels,
        )
    if layer.op == "batch_norm":
        return nn.BatchNorm(
            axis=1,
            momentum=layer.attr("momentum"),
            epsilon=layer.attr("epsilon"),
            in_channels=channels,
        )
    if layer.op in ("max_pool", "avg_pool"):
        pool = nn.MaxPool2D if layer.op == "max_pool" else nn.AvgPool2D
        return pool(pool_size=layer.attr("size"), strides=layer.attr("stride"))
    return None


def _stateless(op: str) -> gluon.HybridBlock:
    if op == "gelu":
        return nn.GELU()  # erf-based
    if op == "global_avg_pool":
        pooled = nn.HybridSequential()
        pooled.add(nn.GlobalAvgPool2D(), nn.Flatten())
        return pooled
    return nn.Activation(op)


class SpecAdam(mx.optimizer.Optimizer):
    """Adam as the spec (and PyTorch and Optax) define it: epsilon added to sqrt(v_hat).

    MXNet's own 'adam' adds epsilon before the bias correction ("epsilon hat"): 2.6e-4 from the
    spec after three steps of `kitchen`, past the parity gate.
    """

    def __init__(self, learning_rate: float, beta1: float, beta2: float, epsilon: float):
        super().__init__(learning_rate=learning_rate)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index: int, weight: Any) -> Any:
        zeros = mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)
        return zeros, zeros.copy()

    def update(self, index: int, weight: Any, grad: Any, state: Any) -> None:
        self._update_count(index)
        step = self._index_update_count[index]
        grad = grad * self.rescale_grad
        m, v = state
        m[:] = self.beta1 * m + (1 - self.beta1) * grad
        v[:] = self.beta2 * v + (1 - self.beta2) * mx.nd.square(grad)
        m_hat = m / (1 - self.beta1**step)
        v_hat = v / (1 - self.beta2**step)
        weight[:] -= self._get_lr(index) * m_hat / (mx.nd.sqrt(v_hat) + self.epsilon)


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
        if by_name[act].op in ("relu", "tanh")
    }
    net, named = nn.HybridSequential(), {}
    for layer in workload.layers:
        if layer.inputs[0] in fused:
            continue  # this activation runs inside the dense layer before it
        block = _block(layer, shapes[layer.inputs[0]], fused.get(layer.name))
        if block is None:
            block = _stateless(layer.op)
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
        self.named: dict[str, gluon.Block] = {}
        with self.name_scope():
            for layer in self.spec_layers:
                block = _block(layer, shapes[layer.inputs[0]])
                if block is not None:
                    self.register_child(block, layer.name)
                    self.named[layer.name] = block

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        values = {INPUT: x}
        for layer in self.spec_layers:
            ins = [values[name] for name in layer.inputs]
            values[layer.name] = self._apply(F, layer, ins)
        return values[self.spec_layers[-1].name]

    def _apply(self, F: Any, layer: Layer, ins: list[Any]) -> Any:
        if layer.name in self.named:
            return self.named[layer.name](ins[0])
        if layer.op == "add":
            return ins[0] + ins[1]
        if layer.op == "global_avg_pool":
            return F.mean(ins[0], axis=(2, 3))
        if layer.op == "gelu":
            return F.LeakyReLU(ins[0], act_type="gelu")  # erf-based GELU
        return F.Activation(ins[0], act_type=layer.op)


def _to_mxnet(key: str, value: np.ndarray, context: mx.Context) -> mx.nd.NDArray:
    if key.endswith(".kernel"):
        value = value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)
    return mx.nd.array(np.ascontiguousarray(value), ctx=context)


def _to_canonical(key: str, value: mx.nd.NDArray) -> np.ndarray:
    array = value.asnumpy()
    if key.endswith(".kernel"):
        array = array.T if array.ndim == 2 else array.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(array)


class MxnetAdapter(TrainingAdapter):
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
        self.context = mx.gpu(0) if setup.device.startswith("gpu") else mx.cpu()
        self.net, named = build_net(workload)
        self.net.initialize(ctx=self.context)
        self.params = {}
        for key, value in weights.items():
            layer, kind = key.rsplit(".", 1)
            param = getattr(named[layer], _GLUON_NAMES[kind])
            param.set_data(_to_mxnet(key, value, self.context))
            self.params[key] = param
        self.trainable = {k: p for k, p in self.params.items() if p.grad_req != "null"}
        self.trainer = gluon.Trainer(self.net.collect_params(), *self._optimizer(workload))
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        if tier == "compiled":
            self.net.hybridize(static_alloc=True, static_shape=True)

    @staticmethod
    def _optimizer(workload: Workload) -> tuple[Any, dict[str, float]]:
        c = workload.optimizer
        if c.name == "sgd":
            return "sgd", {"learning_rate": c.learning_rate, "momentum": c.momentum}
        return SpecAdam(c.learning_rate, c.beta1, c.beta2, c.epsilon), {}

    def prepare(self, x: np.ndarray, y: np.ndarray) -> Any:
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        return (
            mx.nd.array(np.ascontiguousarray(x), ctx=self.context),
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
