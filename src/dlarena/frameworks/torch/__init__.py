"""PyTorch: nn.Module eager and torch.compile; DDP for scale-out; seven ways out."""

from dlarena.frameworks.descriptor import Export, Framework, Override, Runtime, Scenario

FRAMEWORK = Framework(
    name="torch",
    runtimes=(
        Runtime(
            name="torch",
            display="PyTorch",
            module="dlarena.frameworks.torch.adapter",
            framework_module="torch",
            distribution="torch",
            api="nn.Module",
            compiled_as="torch.compile",
            mixed="torch.autocast, GradScaler for fp16",
            repo="pytorch/pytorch",
            package="torch",
        ),
    ),
    exports=(
        Export("onnx (dynamo exporter)"),
        Export("onnx (legacy exporter)"),
        Export("torch.export (.pt2)"),
        Export("TorchScript"),
        Export("ExecuTorch (XNNPACK)", "export-executorch"),
        Export("ExecuTorch (portable)", "export-executorch"),
        Export("LiteRT via litert-torch", "export-litert-torch"),
        Export("int8 dynamic (torch.ao)"),
        Export("onnx int8 (ONNX Runtime quantizer)"),
    ),
    scale=(
        Scenario(
            "torch",
            "torch",
            "dlarena.frameworks.torch.scale",
            "DistributedDataParallel, gloo / nccl (eager)",
            gpu=True,
        ),
    ),
    mistakes=True,
    selfcheck=True,
    # torch.compile's tracer and C++ code generator (sympy, networkx with them), the
    # exporters (torch.export; ONNX through onnxscript, which evaluates with onnx.reference)
    first_use=(
        "torch._dynamo",
        "torch._inductor.compile_fx",
        "torch._inductor.codegen.cpp",
        "torch._inductor.cpp_builder",
        "torch.export",
        "torch.onnx._internal.exporter._core",
        "onnxscript",
        "onnx.reference",
    ),
    overrides=(
        Override(
            "batch norm momentum",
            "momentum=0.1, the weight of the new batch statistic",
            "momentum = 1 - the spec's (the spec's weighs the running average, as Keras's)",
        ),
        Override(
            "batch norm running variance",
            "the batch's unbiased variance (n/(n-1)), where Keras, Flax and MXNet keep the "
            "biased one, as the spec does",
            "left as it is (nn.BatchNorm has no switch): on the digits CNN (n = 1,024-4,096 per "
            "channel) the held-out loss moves 1.5e-4 relative by step 25",
        ),
        Override("AdamW weight decay", "weight_decay=0.01", "the spec's weight_decay"),
        Override(
            "learning-rate schedule",
            "LinearLR cannot start from 0 (its start_factor must be above 0)",
            "LambdaLR with the spec's rate for each step (the first update at 0)",
        ),
        Override("initialization", "Kaiming-uniform", "the canonical weights, loaded"),
    ),
)
