"""JAX: Flax linen and raw jax.numpy, eager and jit; sharded jit for scale-out."""

from dlarena.frameworks.descriptor import Export, Framework, Override, Runtime, Scenario


def _host_devices(role: str, world: int, port: int) -> dict[str, str]:
    """JAX's CPU client with one device per replica, in one process."""
    return {"XLA_FLAGS": f"--xla_force_host_platform_device_count={world}"}


_SCALE = "dlarena.frameworks.jax.scale"
_LIBRARY = Runtime(
    name="jax",
    display="JAX",
    module="dlarena.frameworks.jax.adapter",
    framework_module="jax",
    distribution="jax",
    api="flax.linen",
    compiled_as="jax.jit",
    mixed="Flax compute dtype over float32 parameters",
    thread_knobs=("cpus",),
    repo="jax-ml/jax",
    package="jax",
)
FRAMEWORK = Framework(
    name="jax",
    runtimes=(
        _LIBRARY,
        _LIBRARY.variant("jax-raw", "JAX (jax.numpy)", "dlarena.frameworks.jax.raw", "jax.numpy"),
    ),
    exports=(
        Export("jax.export"),
        Export("LiteRT via jax2tf"),
        Export("onnx (jax2onnx)", "export-jax2onnx"),
    ),
    scale=(
        Scenario("jax", "jax", _SCALE, "jax.distributed + sharded jit, gloo"),
        Scenario(
            "jax-devices",
            "jax",
            _SCALE,
            "sharded jit over N host devices, one process",
            one_process=True,
            env=_host_devices,
        ),
    ),
    mistakes=True,
    selfcheck=True,
    overrides=(
        Override(
            "GELU",
            "nn.gelu approximate=True (the tanh approximation)",
            "approximate=False for the spec's gelu; True only for gelu_tanh",
        ),
        Override("batch norm momentum", "momentum=0.99", "the spec's (0.9)"),
        Override("layer norm epsilon", "epsilon=1e-6", "the spec's (1e-5)"),
        Override("AdamW weight decay", "optax.adamw weight_decay=1e-4", "the spec's weight_decay"),
        Override("initialization", "LeCun-normal", "the canonical weights, loaded"),
    ),
)
