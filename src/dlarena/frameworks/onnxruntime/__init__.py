"""ONNX Runtime: inference only, from the ONNX graph dlarena builds; measured, never recommended."""

from dlarena.frameworks.descriptor import Framework, Runtime

FRAMEWORK = Framework(
    name="onnxruntime",
    runtimes=(
        Runtime(
            name="onnxruntime",
            display="ONNX Runtime",
            module="dlarena.frameworks.onnxruntime.adapter",
            framework_module="onnxruntime",
            distribution="onnxruntime",
            api="onnx",
            compiled_as="graph_optimization_level=ORT_ENABLE_ALL",
            modes=("infer",),
        ),
    ),
)
