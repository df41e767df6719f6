"""PyTorch: nn.Module eager and torch.compile; DDP for scale-out; seven ways out."""

from dlarena.frameworks.descriptor import Export, Framework, Runtime, Scenario

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
)
