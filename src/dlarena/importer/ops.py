"""Every ONNX op type dlarena maps, and what to use instead for those it does not."""

from __future__ import annotations

from collections.abc import Callable

import onnx

from dlarena.importer import images, mapping, pointwise, sequences
from dlarena.importer.mapping import Mapping

MAPPERS: dict[str, Callable[[Mapping, onnx.NodeProto], None]] = {
    "Conv": images.conv,
    "BatchNormalization": images.batch_norm,
    "Relu": pointwise.activation("relu"),
    "Tanh": pointwise.activation("tanh"),
    "Sigmoid": pointwise.activation("sigmoid"),
    "Clip": pointwise.clip,
    "Mul": pointwise.scale,
    "Div": pointwise.scale,
    "Gelu": pointwise.activation("gelu"),
    "MaxPool": images.max_pool,
    "AveragePool": images.avg_pool,
    "GlobalAveragePool": images.global_pool,
    "ReduceMean": images.reduce_mean,
    "Flatten": mapping.flatten,
    "Reshape": mapping.reshape,
    "Gemm": mapping.dense,
    "MatMul": mapping.dense,
    "Add": mapping.add,
    "Concat": mapping.concat,
    "Identity": mapping.identity,
    "Dropout": mapping.identity,
    "Gather": sequences.gather,
    "LayerNormalization": sequences.layer_norm,
    "Attention": sequences.attention,
    "Transpose": sequences.transpose,
    "Squeeze": sequences.squeeze,
    "LSTM": sequences.lstm,
}

# What to use instead, for ops that are not mapped
NEAREST = {
    "Softmax": "a Softmax over the classes at the output only (the spec ends in the logits)",
    "LogSoftmax": "a LogSoftmax over the classes at the output only (the spec ends in the logits)",
    "LeakyRelu": "Relu",
    "Elu": "Relu",
    "Selu": "Relu",
    "HardSigmoid": "none yet; Tanh is the nearest squashing activation",
    "ConvTranspose": "none: the spec has no transposed convolution",
    "MaxRoiPool": "none",
    "Sub": "none outside a layer norm pattern",
    "Mul": "a scalar constant (scale), or a GELU, layer norm or attention pattern",
    "Div": "a scalar constant (scale), or a GELU, layer norm or attention pattern",
}
