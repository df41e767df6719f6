"""TensorFlow: Keras 3 and raw tf ops, eager and XLA; tf.distribute for scale-out."""

from dlarena.frameworks.descriptor import Export, Framework, Runtime, Scenario

_SCALE = "dlarena.frameworks.tensorflow.scale"
_LIBRARY = Runtime(
    name="tensorflow",
    display="TensorFlow",
    module="dlarena.frameworks.tensorflow.adapter",
    framework_module="tensorflow",
    distribution="tensorflow-cpu",
    api="keras3",
    compiled_as="tf.function(jit_compile=True)",
    repo="tensorflow/tensorflow",
    package="tensorflow",
    # tf.lite's converter imports JAX when it is installed (its JAX path): 1.5 s of every
    # TensorFlow worker's start in the environment the two share
    hides=("jax",),
)
FRAMEWORK = Framework(
    name="tensorflow",
    runtimes=(
        _LIBRARY,
        _LIBRARY.variant(
            "tensorflow-raw", "TensorFlow (tf ops)", "dlarena.frameworks.tensorflow.raw", "tf ops"
        ),
    ),
    exports=(
        Export("SavedModel"),
        Export("onnx (Model.export)", "export-tf2onnx"),
        Export("TFLite / LiteRT"),
    ),
    scale=(
        Scenario(
            "tensorflow",
            "tensorflow",
            _SCALE,
            "MultiWorkerMirroredStrategy (TF_CONFIG), Keras 3, tf.function",
        ),
        Scenario(
            "tensorflow-mirrored",
            "tensorflow",
            _SCALE,
            "MirroredStrategy over N logical CPUs, one process",
            one_process=True,
        ),
    ),
    mistakes=True,
    selfcheck=True,
)
