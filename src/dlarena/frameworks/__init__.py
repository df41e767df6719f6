"""The one registry of runtimes dlarena knows; every other part derives its list from here.

Adding a framework is one `Runtime` entry below plus its adapter module (frameworks/<name>.py).
Host-safe: it names modules and capabilities, and imports no framework.
"""

from __future__ import annotations

import dataclasses

TIERS = ("eager", "compiled")
MODES = ("train", "infer")


@dataclasses.dataclass(frozen=True)
class Runtime:
    name: str
    display: str
    module: str  # the adapter module, imported only inside a worker
    framework_module: str  # what must be importable in the environment
    distribution: str  # the pip distribution whose version is recorded
    api: str  # the API level the adapter is written in
    compiled_as: str  # what the 'compiled' tier means for this runtime
    default_env: str = "main"
    modes: tuple[str, ...] = MODES
    tiers: tuple[str, ...] = TIERS
    # What `--threading tuned` sweeps: intra/inter-op pools, or only the CPUs allowed (a
    # runtime that sizes its pools from OMP_NUM_THREADS or from its affinity).
    thread_knobs: tuple[str, ...] = ("intra", "inter")
    # An API variant of another runtime (its raw ops beside its layer library): measured on
    # request, never part of the decision, shown beside the runtime it varies.
    variant_of: str | None = None
    repo: str | None = None  # GitHub owner/name, for the evidence collectors
    package: str | None = None  # PyPI package, for the evidence collectors

    @property
    def compared(self) -> bool:
        """Part of the framework decision (evidence, scoring), not only a runtime to measure."""
        return self.repo is not None


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            name="torch",
            display="PyTorch",
            module="dlarena.frameworks.torch",
            framework_module="torch",
            distribution="torch",
            api="nn.Module",
            compiled_as="torch.compile",
            repo="pytorch/pytorch",
            package="torch",
        ),
        Runtime(
            name="tensorflow",
            display="TensorFlow",
            module="dlarena.frameworks.tensorflow",
            framework_module="tensorflow",
            distribution="tensorflow-cpu",
            api="keras3",
            compiled_as="tf.function(jit_compile=True)",
            repo="tensorflow/tensorflow",
            package="tensorflow",
        ),
        Runtime(
            name="tensorflow-raw",
            display="TensorFlow (tf ops)",
            module="dlarena.frameworks.tensorflow_raw",
            framework_module="tensorflow",
            distribution="tensorflow-cpu",
            api="tf ops",
            compiled_as="tf.function(jit_compile=True)",
            variant_of="tensorflow",
        ),
        Runtime(
            name="jax",
            display="JAX",
            module="dlarena.frameworks.jax",
            framework_module="jax",
            distribution="jax",
            api="flax.linen",
            compiled_as="jax.jit",
            thread_knobs=("cpus",),
            repo="jax-ml/jax",
            package="jax",
        ),
        Runtime(
            name="jax-raw",
            display="JAX (jax.numpy)",
            module="dlarena.frameworks.jax_raw",
            framework_module="jax",
            distribution="jax",
            api="jax.numpy",
            compiled_as="jax.jit",
            thread_knobs=("cpus",),
            variant_of="jax",
        ),
        Runtime(
            name="mxnet",
            display="Apache MXNet",
            module="dlarena.frameworks.mxnet",
            framework_module="mxnet",
            distribution="mxnet",
            api="gluon",
            compiled_as="HybridBlock.hybridize(static_alloc, static_shape)",
            default_env="mxnet",
            thread_knobs=("intra",),
            repo="apache/mxnet",
            package="mxnet",
        ),
        Runtime(
            name="onnxruntime",
            display="ONNX Runtime",
            module="dlarena.frameworks.onnxruntime",
            framework_module="onnxruntime",
            distribution="onnxruntime",
            api="onnx",
            compiled_as="graph_optimization_level=ORT_ENABLE_ALL",
            modes=("infer",),
        ),
    )
}

# What `bench` runs unless told: every runtime but the API variants.
DEFAULT_RUNTIMES: tuple[str, ...] = tuple(n for n, r in RUNTIMES.items() if r.variant_of is None)
# The frameworks the decision compares (ONNX Runtime is measured, never recommended).
FRAMEWORKS: tuple[str, ...] = tuple(name for name, r in RUNTIMES.items() if r.compared)
