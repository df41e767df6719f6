"""TensorFlow: Keras 3 and raw tf ops, eager and XLA; tf.distribute for scale-out."""

from dlarena.frameworks.descriptor import Export, Framework, Override, Runtime, Scenario

_SCALE = "dlarena.frameworks.tensorflow.scale"
_LIBRARY = Runtime(
    name="tensorflow",
    display="TensorFlow",
    module="dlarena.frameworks.tensorflow.adapter",
    framework_module="tensorflow",
    distribution="tensorflow-cpu",
    api="keras3",
    compiled_as="tf.function(jit_compile=True)",
    mixed="Keras mixed_bfloat16 / mixed_float16 policy",
    repo="tensorflow/tensorflow",
    package="tensorflow",
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
        Export("TFLite int8 (dynamic range)"),
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
    # LiteRT's interpreter, which runs the devices path's artifacts (JAX's through jax2tf too)
    first_use=("ai_edge_litert.interpreter",),
    overrides=(
        Override("batch norm", "momentum=0.99, epsilon=1e-3", "the spec's (0.9, 1e-5)"),
        Override("layer norm epsilon", "epsilon=1e-3", "the spec's (1e-5)"),
        Override(
            "Adam epsilon",
            "epsilon=1e-7, added before the bias correction",
            "SpecAdam: the spec's epsilon, added to sqrt(v_hat)",
        ),
        Override(
            "SGD momentum form",
            "the rate inside the momentum (m = momentum m - lr g)",
            "SpecSGD under a schedule (v = momentum v + g, p -= lr v); the same at a constant rate",
        ),
        Override("AdamW weight decay", "weight_decay=0.004", "the spec's weight_decay"),
        Override(
            "LSTM forget gate",
            "unit_forget_bias=True (1 added to the forget bias at init)",
            "the canonical weights, loaded",
        ),
        Override("initialization", "Glorot-uniform", "the canonical weights, loaded"),
    ),
)
