"""Size presets of the built-in workloads: `tiny` (tests: seconds), `small` (the default CPU run,
the YAML files in workloads/) and `full` (the published size, meant for a GPU).

Presets are spec documents, validated like any spec file.
"""

from __future__ import annotations

from typing import Any

SIZES = ("tiny", "small", "full")
SGD = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}


def _mlp(features: int, widths: tuple[int, int, int], batch: int) -> dict[str, Any]:
    """The mlp's shape (dense layers with ReLU, exact GELU and tanh) at other widths."""
    first, second, third = widths
    return {
        "name": "mlp",
        "input_shape": [features],
        "num_classes": 10,
        "batch_size": batch,
        "layers": [
            {"name": "fc1", "op": "dense", "units": first},
            {"name": "act1", "op": "relu"},
            {"name": "fc2", "op": "dense", "units": second},
            {"name": "act2", "op": "gelu"},
            {"name": "fc3", "op": "dense", "units": third},
            {"name": "act3", "op": "tanh"},
            {"name": "logits", "op": "dense", "units": 10},
        ],
        "optimizer": SGD,
    }


def _conv_bn(name: str, filters: int, kernel: int, stride: int = 1, **extra: Any) -> list[dict]:
    conv = {"name": name, "op": "conv2d", "filters": filters, "kernel": kernel, "stride": stride}
    conv.update({"padding": kernel // 2, **extra})
    return [conv, {"name": f"{name}_bn", "op": "batch_norm"}]


def _bottleneck(name: str, source: str, width: int, stride: int, project: bool) -> list[dict]:
    """A ResNet v1.5 bottleneck (1x1, 3x3 with the stride, 1x1 to 4x width), as torchvision."""
    layers = [*_conv_bn(f"{name}_conv1", width, 1, inputs=[source])]
    layers += [
        {"name": f"{name}_relu1", "op": "relu"},
        *_conv_bn(f"{name}_conv2", width, 3, stride),
    ]
    layers += [{"name": f"{name}_relu2", "op": "relu"}, *_conv_bn(f"{name}_conv3", 4 * width, 1)]
    shortcut = source
    if project:
        layers += _conv_bn(f"{name}_proj", 4 * width, 1, stride, inputs=[source])
        shortcut = f"{name}_proj_bn"
    layers.append({"name": f"{name}_add", "op": "add", "inputs": [f"{name}_conv3_bn", shortcut]})
    layers.append({"name": f"{name}_out", "op": "relu"})
    return layers


def resnet50() -> dict[str, Any]:
    """ResNet-50 at 224x224 (He et al. 2016, arXiv:1512.03385, table 1; torchvision's resnet50
    has 25,557,032 parameters). The stem's 3x3 max pool has no padding here (the spec's pools
    are unpadded), so stage 1 runs at 55x55 instead of 56x56: the parameters are the same."""
    layers = [
        *_conv_bn("stem", 64, 7, 2),
        {"name": "stem_relu", "op": "relu"},
        {"name": "pool", "op": "max_pool", "size": 3, "stride": 2},
    ]
    source = "pool"
    for stage, (blocks, width) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=1):
        for block in range(blocks):
            name = f"s{stage}b{block + 1}"
            stride = 2 if block == 0 and stage > 1 else 1
            layers += _bottleneck(name, source, width, stride, project=block == 0)
            source = f"{name}_out"
    layers += [
        {"name": "gap", "op": "global_avg_pool"},
        {"name": "logits", "op": "dense", "units": 1000},
    ]
    return {
        "name": "cnn",
        "input_shape": [224, 224, 3],
        "num_classes": 1000,
        "batch_size": 32,
        "layers": layers,
        "optimizer": SGD,
    }


def tiny_cnn() -> dict[str, Any]:
    """The small CNN's graph (stem, an identity block, a strided block with a projection) on
    8x8 images with 4 and 8 channels."""
    return {
        "name": "cnn",
        "input_shape": [8, 8, 3],
        "num_classes": 10,
        "batch_size": 8,
        "layers": [
            *_conv_bn("stem", 4, 3),
            {"name": "stem_relu", "op": "relu"},
            *_conv_bn("b1_conv1", 4, 3),
            {"name": "b1_relu1", "op": "relu"},
            *_conv_bn("b1_conv2", 4, 3),
            {"name": "b1_add", "op": "add", "inputs": ["b1_conv2_bn", "stem_relu"]},
            {"name": "b1_out", "op": "relu"},
            *_conv_bn("b2_conv1", 8, 3, 2),
            {"name": "b2_relu1", "op": "relu"},
            *_conv_bn("b2_conv2", 8, 3),
            *_conv_bn("b2_proj", 8, 1, 2, inputs=["b1_out"]),
            {"name": "b2_add", "op": "add", "inputs": ["b2_conv2_bn", "b2_proj_bn"]},
            {"name": "b2_out", "op": "relu"},
            {"name": "gap", "op": "global_avg_pool"},
            {"name": "logits", "op": "dense", "units": 10},
        ],
        "optimizer": SGD,
    }


# name -> size -> the spec document; `small` is read from workloads/NAME.yaml.
PRESETS: dict[str, dict[str, Any]] = {
    "mlp": {
        "tiny": lambda: _mlp(16, (16, 16, 8), 8),
        # The width at which float32 GEMMs dominate a step (about 90% of peak on CPUs).
        "full": lambda: _mlp(2048, (4096, 4096, 1024), 512),
    },
    "cnn": {"tiny": tiny_cnn, "full": resnet50},
}
