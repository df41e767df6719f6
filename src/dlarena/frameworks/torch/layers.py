"""PyTorch: each spec layer as the torch.nn module a PyTorch user writes (custom modules where
torch has none: token embedding with positions, self-attention as one block, embedding bags,
the LSTM without its state), and the functions of the ops without parameters."""

from __future__ import annotations

from collections.abc import Callable
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


def _slice(layer: Layer) -> Any:
    columns = slice(layer.attr("start"), layer.attr("start") + layer.attr("size"))
    return lambda ins: ins[0][:, columns]


def _reshape(layer: Layer) -> Any:
    shape = tuple(layer.attr("shape"))
    return lambda ins: ins[0].reshape(len(ins[0]), *shape)


def _scale(layer: Layer) -> Any:
    factor = layer.attr("factor")
    return lambda ins: ins[0] * factor


# op without weights -> its function of the inputs, made from the layer; any other op is an
# activation (_ACTIVATIONS)
_FUNCTIONS: dict[str, Callable[[Layer], Any]] = {
    "slice": _slice,
    "reshape": _reshape,
    "scale": _scale,
    "add": lambda la: lambda ins: ins[0] + ins[1],
    "global_avg_pool": lambda la: lambda ins: ins[0].mean(dim=(2, 3)),
    "first_token": lambda la: lambda ins: ins[0][:, 0],
    "concat": lambda la: lambda ins: torch.cat(ins, dim=1 if ins[0].ndim == 4 else -1),
    "dot_interaction": lambda la: _interaction,
    "flatten": lambda la: lambda ins: _flatten(ins[0]),
}


def function_of(layer: Layer) -> Any:
    """The op of a layer without weights, as a function of its inputs."""
    if layer.op in _FUNCTIONS:
        return _FUNCTIONS[layer.op](layer)
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


def _conv(la: Layer, in_shape: tuple[int, ...], w: Workload) -> nn.Module:
    return nn.Conv2d(
        in_shape[-1], la.attr("filters"), la.attr("kernel"), la.attr("stride"),
        la.attr("padding"), bias=la.attr("bias"), groups=la.attr("groups"),
    )  # fmt: skip


def _batch_norm(la: Layer, in_shape: tuple[int, ...], w: Workload) -> nn.Module:
    norm = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
    # torch's momentum is the weight of the new batch statistic.
    return norm(in_shape[-1], eps=la.attr("epsilon"), momentum=1.0 - la.attr("momentum"))


def _bag(la: Layer, in_shape: tuple[int, ...], w: Workload) -> nn.Module:
    return Bag(*(la.attr(k) for k in ("vocab", "units", "start", "size", "mode")))


# op with weights (or a module of its own) -> its module, from the layer, its input's shape
# (channels last) and the workload
_MODULES: dict[str, Callable[[Layer, tuple[int, ...], Workload], nn.Module]] = {
    "embedding": lambda la, shape, w: TokenEmbedding(
        w.vocab_size, shape[0], la.attr("units"), la.attr("positions")
    ),
    "layer_norm": lambda la, shape, w: nn.LayerNorm(shape[-1], eps=la.attr("epsilon")),
    # active in train(), as the model is in training cells
    "dropout": lambda la, shape, w: nn.Dropout(la.attr("rate")),
    "lstm": lambda la, shape, w: Recurrent(shape[-1], la.attr("units"), la.attr("sequence")),
    "embedding_bag": _bag,
    "attention": lambda la, shape, w: SelfAttention(
        shape[-1], la.attr("heads"), la.attr("mask"), la.attr("bias")
    ),
    "dense": lambda la, shape, w: nn.Linear(shape[-1], la.attr("units"), bias=la.attr("bias")),
    "conv2d": _conv,
    "batch_norm": _batch_norm,
    "max_pool": lambda la, shape, w: nn.MaxPool2d(
        la.attr("size"), la.attr("stride"), la.attr("padding")
    ),
    "avg_pool": lambda la, shape, w: nn.AvgPool2d(la.attr("size"), la.attr("stride")),
}


def module_of(layer: Layer, in_shape: tuple[int, ...], workload: Workload) -> nn.Module | None:
    """The module of a layer that has one (None: a function of its inputs, `stateless`)."""
    make = _MODULES.get(layer.op)
    return make(layer, in_shape, workload) if make is not None else None


def stateless(layer: Layer) -> nn.Module:
    if layer.op in _ACTIVATION_MODULES:
        return _ACTIVATION_MODULES[layer.op]()
    return Lambda(function_of(layer))
