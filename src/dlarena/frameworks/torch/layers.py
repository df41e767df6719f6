"""PyTorch: each spec layer as the torch.nn module a PyTorch user writes (custom modules where
torch has none: token embedding with positions, self-attention as one block, embedding bags,
the LSTM without its state), and the functions of the ops without parameters."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlarena.spec.model import Layer, Workload

_ACTIVATIONS = {
    "relu": F.relu,
    "relu6": F.relu6,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
_ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


Tensors = list[torch.Tensor]


def _interaction(ins: Tensors) -> torch.Tensor:
    """DLRM's dot interaction: the first vector, then every pairwise dot product (i < j)."""
    z = torch.stack(ins, dim=1)
    i, j = torch.triu_indices(len(ins), len(ins), offset=1, device=z.device)
    return torch.cat([ins[0], torch.bmm(z, z.transpose(1, 2))[:, i, j]], dim=1)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """Flattened in the canonical NHWC order (images are NCHW inside)."""
    return (x.permute(0, 2, 3, 1) if x.ndim == 4 else x).flatten(1)


def function_of(layer: Layer) -> Any:
    """The op of a layer without weights, as a function of its inputs."""
    if layer.op == "slice":
        columns = slice(layer.attr("start"), layer.attr("start") + layer.attr("size"))
        return lambda ins: ins[0][:, columns]
    if layer.op == "reshape":
        shape = tuple(layer.attr("shape"))
        return lambda ins: ins[0].reshape(len(ins[0]), *shape)
    if layer.op == "scale":
        factor = layer.attr("factor")
        return lambda ins: ins[0] * factor
    functions = {
        "add": lambda ins: ins[0] + ins[1],
        "global_avg_pool": lambda ins: ins[0].mean(dim=(2, 3)),
        "first_token": lambda ins: ins[0][:, 0],
        "concat": lambda ins: torch.cat(ins, dim=1 if ins[0].ndim == 4 else -1),
        "dot_interaction": _interaction,
        "flatten": lambda ins: _flatten(ins[0]),
    }
    if layer.op in functions:
        return functions[layer.op]
    activation = _ACTIVATIONS[layer.op]
    return lambda ins: activation(ins[0])


class Lambda(nn.Module):
    """A layer without weights inside nn.Sequential."""

    def __init__(self, function: Any):
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function([x])


class Bag(nn.Module):
    """nn.EmbeddingBag over id columns [start, start + size) of the input row."""

    def __init__(self, vocab: int, units: int, start: int, size: int, mode: str):
        super().__init__()
        self.table = nn.EmbeddingBag(vocab, units, mode=mode)
        self.columns = slice(start, start + size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table(x[:, self.columns].long())


class TokenEmbedding(nn.Module):
    """Token embedding plus learned absolute positions (BERT's and GPT-2's)."""

    def __init__(self, vocab: int, seq: int, units: int, positions: bool):
        super().__init__()
        self.table = nn.Embedding(vocab, units)
        self.positions = nn.Parameter(torch.zeros(seq, units)) if positions else None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.table(ids)
        return out if self.positions is None else out + self.positions


class Recurrent(nn.Module):
    """nn.LSTM (batch first). Gate order i, f, g, o as the canonical one; torch keeps two
    biases (input and hidden): the canonical bias is the input one, the hidden one stays zero and
    frozen so that the model and its training are the canonical ones."""

    def __init__(self, inputs: int, units: int, sequence: bool):
        super().__init__()
        self.lstm = nn.LSTM(inputs, units, batch_first=True)
        self.lstm.bias_hh_l0.requires_grad_(False)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.sequence = sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, _) = self.lstm(x)
        return out if self.sequence else h[-1]


class SelfAttention(nn.Module):
    """Multi-head self-attention: q/k/v/o projections around F.scaled_dot_product_attention
    (what modern PyTorch models write; nn.MultiheadAttention packs q, k and v into one weight
    and takes a fast path in inference that skips padded rows)."""

    def __init__(self, units: int, heads: int, mask: str, bias: bool):
        super().__init__()
        self.heads, self.mask = heads, mask
        self.q, self.k, self.v, self.o = (nn.Linear(units, units, bias=bias) for _ in range(4))

    def forward(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        batch, seq, units = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, seq, self.heads, units // self.heads).transpose(1, 2)

        mask = None if ids is None else (ids != 0)[:, None, None, :]
        context = F.scaled_dot_product_attention(
            split(self.q(x)),
            split(self.k(x)),
            split(self.v(x)),
            attn_mask=mask,
            is_causal=self.mask == "causal",
        )
        return self.o(context.transpose(1, 2).reshape(batch, seq, units))


def module_of(layer: Layer, in_shape: tuple[int, ...], workload: Workload) -> nn.Module | None:
    channels = in_shape[-1]
    if layer.op == "embedding":
        return TokenEmbedding(
            workload.vocab_size, in_shape[0], layer.attr("units"), layer.attr("positions")
        )
    if layer.op == "layer_norm":
        return nn.LayerNorm(channels, eps=layer.attr("epsilon"))
    if layer.op == "dropout":  # active in train(), as the model is in training cells
        return nn.Dropout(layer.attr("rate"))
    if layer.op == "lstm":
        return Recurrent(channels, layer.attr("units"), layer.attr("sequence"))
    if layer.op == "embedding_bag":
        attrs = (layer.attr(k) for k in ("vocab", "units", "start", "size", "mode"))
        return Bag(*attrs)
    if layer.op == "attention":
        return SelfAttention(channels, layer.attr("heads"), layer.attr("mask"), layer.attr("bias"))
    if layer.op == "dense":
        return nn.Linear(channels, layer.attr("units"), bias=layer.attr("bias"))
    if layer.op == "conv2d":
        return nn.Conv2d(
            channels,
            layer.attr("filters"),
            layer.attr("kernel"),
            layer.attr("stride"),
            layer.attr("padding"),
            bias=layer.attr("bias"),
            groups=layer.attr("groups"),
        )
    if layer.op == "batch_norm":
        norm = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        # torch's momentum is the weight of the new batch statistic.
        return norm(channels, eps=layer.attr("epsilon"), momentum=1.0 - layer.attr("momentum"))
    if layer.op == "max_pool":
        return nn.MaxPool2d(layer.attr("size"), layer.attr("stride"), layer.attr("padding"))
    if layer.op == "avg_pool":
        return nn.AvgPool2d(layer.attr("size"), layer.attr("stride"))
    return None


def stateless(layer: Layer) -> nn.Module:
    if layer.op in _ACTIVATION_MODULES:
        return _ACTIVATION_MODULES[layer.op]()
    return Lambda(function_of(layer))
