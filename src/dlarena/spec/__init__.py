"""The neutral workload description (numpy and stdlib only: workers import it)."""

from dlarena.spec.model import Layer, Optimizer, Workload, infer_shapes, parameter_shapes
from dlarena.spec.weights import canonical_weights, synthetic_batch

__all__ = [
    "Layer",
    "Optimizer",
    "Workload",
    "canonical_weights",
    "infer_shapes",
    "parameter_shapes",
    "synthetic_batch",
]
