"""Apache MXNet: Gluon, eager and hybridized; kvstore for scale-out (its own environment)."""

from dlarena.frameworks.descriptor import LOOPBACK, Export, Framework, Override, Runtime, Scenario


def _dmlc(role: str, world: int, port: int) -> dict[str, str]:
    """ps-lite's variables: every node on the loopback, one server."""
    return {
        "DMLC_ROLE": role,
        "DMLC_PS_ROOT_URI": LOOPBACK,
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NODE_HOST": LOOPBACK,
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": str(world),
    }


_SCALE = "dlarena.frameworks.mxnet.scale"
FRAMEWORK = Framework(
    name="mxnet",
    runtimes=(
        Runtime(
            name="mxnet",
            display="Apache MXNet",
            module="dlarena.frameworks.mxnet.adapter",
            framework_module="mxnet",
            distribution="mxnet",
            api="gluon",
            compiled_as="HybridBlock.hybridize(static_alloc, static_shape)",
            default_env="mxnet",
            thread_knobs=("intra",),
            repo="apache/mxnet",
            package="mxnet",
        ),
    ),
    exports=(Export("HybridBlock.export"), Export("onnx (mx.onnx)", "export-mxnet-onnx")),
    scale=(
        Scenario(
            "mxnet",
            "mxnet",
            _SCALE,
            "kvstore dist_sync (scheduler + 1 server), hybridized Gluon",
            helpers=("scheduler", "server"),
            helper_argv=("-c", "import mxnet"),  # with DMLC_ROLE set, it serves that role
            env=_dmlc,
        ),
        Scenario(
            "mxnet-local",
            "mxnet",
            _SCALE,
            "kvstore local over N CPU contexts, one process",
            one_process=True,
        ),
    ),
    mistakes=True,
    selfcheck=True,
    overrides=(
        Override(
            "Adam epsilon",
            "epsilon added before the bias correction",
            "SpecAdam: the spec's, added to sqrt(v_hat); AdamW's decay decoupled in it",
        ),
        Override(
            "SGD momentum form",
            "the rate inside the momentum (mom = momentum mom - lr g)",
            "SpecSGD under a schedule (v = momentum v + g, w -= lr v)",
        ),
        Override(
            "learning-rate schedule",
            "schedulers count updates from 1 (CosineScheduler warms up one step ahead)",
            "SpecSchedule: the spec's rate of update num_update - 1",
        ),
        Override("initialization", "Uniform(0.07)", "the canonical weights, loaded"),
    ),
)
