"""The built-in workloads' architectures as spec documents at any size: the mlp, ResNet-50 and a
small CNN, and a DLRM-style recommender (the token models: sequence_models.py). presets.py names
the sizes dlarena runs them at."""

from __future__ import annotations

from typing import Any

SGD = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}


def mlp(features: int, widths: tuple[int, int, int], batch: int) -> dict[str, Any]:
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


def _bottleneck(
    name: str, source: str, width: int, stride: int, project: bool, keras: bool = False
) -> list[dict]:
    """A ResNet v1.5 bottleneck (1x1, 3x3 with the stride, 1x1 to 4x width), as torchvision;
    `keras`: v1 as keras.applications has it (the stride in the first 1x1, conv biases)."""
    bias = {"bias": True} if keras else {}
    first, middle = (stride, 1) if keras else (1, stride)
    layers = [*_conv_bn(f"{name}_conv1", width, 1, first, inputs=[source], **bias)]
    layers += [
        {"name": f"{name}_relu1", "op": "relu"},
        *_conv_bn(f"{name}_conv2", width, 3, middle, **bias),
    ]
    layers += [
        {"name": f"{name}_relu2", "op": "relu"},
        *_conv_bn(f"{name}_conv3", 4 * width, 1, **bias),
    ]
    shortcut = source
    if project:
        layers += _conv_bn(f"{name}_proj", 4 * width, 1, stride, inputs=[source], **bias)
        shortcut = f"{name}_proj_bn"
    layers.append({"name": f"{name}_add", "op": "add", "inputs": [f"{name}_conv3_bn", shortcut]})
    layers.append({"name": f"{name}_out", "op": "relu"})
    return layers


def resnet50(image: int = 224, batch: int = 32, keras: bool = False) -> dict[str, Any]:
    """ResNet-50 (He et al. 2016, arXiv:1512.03385, table 1) in torchvision's v1.5 form, 25,557,032
    parameters; `keras`: keras.applications.ResNet50's v1 form (the stride in each stage's first
    1x1 conv, conv biases: 25,583,592), the one `dlarena fidelity` compares with it."""
    bias = {"bias": True} if keras else {}
    layers = [
        *_conv_bn("stem", 64, 7, 2, **bias),
        {"name": "stem_relu", "op": "relu"},
        {"name": "pool", "op": "max_pool", "size": 3, "stride": 2, "padding": 1},
    ]
    source = "pool"
    for stage, (blocks, width) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=1):
        for block in range(blocks):
            name = f"s{stage}b{block + 1}"
            stride = 2 if block == 0 and stage > 1 else 1
            layers += _bottleneck(name, source, width, stride, block == 0, keras)
            source = f"{name}_out"
    layers += [
        {"name": "gap", "op": "global_avg_pool"},
        {"name": "logits", "op": "dense", "units": 1000},
    ]
    return {
        "name": "cnn",
        "input_shape": [image, image, 3],
        "num_classes": 1000,
        "batch_size": batch,
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


def _mlp_stack(prefix: str, widths: tuple[int, ...], source: str) -> list[dict]:
    layers: list[dict] = []
    for index, width in enumerate(widths, start=1):
        inputs = {"inputs": [source]} if index == 1 else {}
        layers += [
            {"name": f"{prefix}{index}", "op": "dense", "units": width, **inputs},
            {"name": f"{prefix}{index}_relu", "op": "relu"},
        ]
    return layers


def dlrm(
    dense: int,
    tables: tuple[int, ...],
    dim: int,
    bottom: tuple[int, ...],
    top: tuple[int, ...],
    batch: int,
    bags: tuple[tuple[int, str], ...] = (),
) -> dict[str, Any]:
    """A DLRM-style recommender (Naumov et al. 2019, arXiv:1906.00091): dense features through
    a bottom MLP, one embedding table per sparse feature (bags of ids, summed or averaged), the
    pairwise dot interaction of all those vectors beside the bottom output, and a top MLP to a
    click / no-click head. The input is one flat row: the dense features, then each feature's
    ids (exact in float32). `bags` gives (ids per bag, sum|mean) per table, default one id."""
    bags = bags or tuple((1, "sum") for _ in tables)
    layers: list[dict] = [{"name": "dense_in", "op": "slice", "size": dense, "inputs": ["input"]}]
    layers += _mlp_stack("bottom", (*bottom, dim), "dense_in")
    start, vectors = dense, [layers[-1]["name"]]
    for index, (vocab, (size, mode)) in enumerate(zip(tables, bags, strict=True), start=1):
        layers.append(
            {"name": f"table{index}", "op": "embedding_bag", "vocab": vocab, "units": dim,
             "start": start, "size": size, "mode": mode, "inputs": ["input"]}
        )  # fmt: skip
        start += size
        vectors.append(f"table{index}")
    layers.append({"name": "interact", "op": "dot_interaction", "inputs": vectors})
    layers += _mlp_stack("top", top, "interact")
    layers.append({"name": "logits", "op": "dense", "units": 2})
    return {
        "name": "recsys",
        "input_shape": [start],
        "num_classes": 2,
        "batch_size": batch,
        "layers": layers,
        "optimizer": SGD,
    }
