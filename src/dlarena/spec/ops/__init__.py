"""Every layer op a spec may use, each defined in one place (its family's module): attributes,
shape rule, parameters, FLOPs and float64 reference. Spec validation, shape inference, FLOP
counts and the reference read this table; a new op is one entry here plus one per adapter."""

from __future__ import annotations

from dlarena.spec.ops import (
    activations,
    attention,
    conv,
    dense,
    embeddings,
    joins,
    norms,
    pooling,
    recurrent,
    reshaping,
)
from dlarena.spec.ops.base import MANY, Op

OPS: dict[str, Op] = {
    "dense": dense.DENSE,
    "relu": activations.RELU,
    "gelu": activations.GELU,
    "gelu_tanh": activations.GELU_TANH,
    "tanh": activations.TANH,
    "relu6": activations.RELU6,
    "sigmoid": activations.SIGMOID,
    "dropout": activations.DROPOUT,
    "conv2d": conv.CONV2D,
    "batch_norm": norms.BATCH_NORM,
    "max_pool": pooling.MAX_POOL,
    "avg_pool": pooling.AVG_POOL,
    "add": joins.ADD,
    "scale": activations.SCALE,
    "global_avg_pool": pooling.GLOBAL_AVG_POOL,
    "embedding": embeddings.EMBEDDING,
    "layer_norm": norms.LAYER_NORM,
    "attention": attention.ATTENTION,
    "first_token": attention.FIRST_TOKEN,
    "lstm": recurrent.LSTM,
    "tied_logits": dense.TIED_LOGITS,
    "slice": reshaping.SLICE,
    "embedding_bag": embeddings.EMBEDDING_BAG,
    "concat": joins.CONCAT,
    "dot_interaction": joins.DOT_INTERACTION,
    "flatten": reshaping.FLATTEN,
    "reshape": reshaping.RESHAPE,
}

__all__ = ["MANY", "OPS", "Op"]
