"""The runtimes dlarena knows: one adapter module each, described here without importing it.

This registry is host-safe: it names modules and capabilities, and imports no framework.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Runtime:
    name: str
    module: str  # the adapter module, imported only inside a worker
    framework_module: str  # what must be importable in the environment
    distribution: str  # the pip distribution whose version is recorded
    modes: tuple[str, ...]
    compiled_as: str  # what the 'compiled' tier means for this runtime
    default_env: str


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "torch",
            "dlarena.frameworks.torch",
            "torch",
            "torch",
            ("train", "infer"),
            "torch.compile",
            "main",
        ),
        Runtime(
            "tensorflow",
            "dlarena.frameworks.tensorflow",
            "tensorflow",
            "tensorflow-cpu",
            ("train", "infer"),
            "tf.function(jit_compile=True)",
            "main",
        ),
        Runtime(
            "jax", "dlarena.frameworks.jax", "jax", "jax", ("train", "infer"), "jax.jit", "main"
        ),
        Runtime(
            "mxnet",
            "dlarena.frameworks.mxnet",
            "mxnet",
            "mxnet",
            ("train", "infer"),
            "HybridBlock.hybridize(static_alloc, static_shape)",
            "mxnet",
        ),
        Runtime(
            "onnxruntime",
            "dlarena.frameworks.onnxruntime",
            "onnxruntime",
            "onnxruntime",
            ("infer",),
            "graph_optimization_level=ORT_ENABLE_ALL",
            "main",
        ),
    )
}
TIERS = ("eager", "compiled")
MODES = ("train", "infer")
