"""Size presets of the built-in workloads: `tiny` (tests: seconds), `small` (the default CPU run,
the YAML files in workloads/) and `full` (the published size, meant for a GPU).

Presets are spec documents, validated like any spec file.
"""

from __future__ import annotations

from typing import Any

SIZES = ("tiny", "small", "full")
SGD = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}
# BERT's hidden_dropout_prob and GPT-2's embd_pdrop/resid_pdrop; their dropout on attention
# probabilities is not modelled (no layer exposes it)
DROPOUT = 0.1


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


def _encoder_block(name: str, source: str, width: int, heads: int, epsilon: float) -> list[dict]:
    """A post-norm encoder block, as BERT: attention with the padding mask, dropout, add and norm,
    a GELU feed-forward 4x the width, dropout, add and norm."""
    return [
        {"name": f"{name}_attn", "op": "attention", "heads": heads, "mask": "padding",
         "inputs": [source]},
        {"name": f"{name}_attn_drop", "op": "dropout", "rate": DROPOUT},
        {"name": f"{name}_attn_add", "op": "add", "inputs": [f"{name}_attn_drop", source]},
        {"name": f"{name}_attn_norm", "op": "layer_norm", "epsilon": epsilon},
        {"name": f"{name}_ffn1", "op": "dense", "units": 4 * width},
        {"name": f"{name}_gelu", "op": "gelu"},
        {"name": f"{name}_ffn2", "op": "dense", "units": width},
        {"name": f"{name}_ffn_drop", "op": "dropout", "rate": DROPOUT},
        {"name": f"{name}_ffn_add", "op": "add",
         "inputs": [f"{name}_ffn_drop", f"{name}_attn_norm"]},
        {"name": f"{name}_ffn_norm", "op": "layer_norm", "epsilon": epsilon},
    ]  # fmt: skip


def encoder(
    vocab: int, seq: int, width: int, depth: int, heads: int, batch: int, classes: int = 2
) -> dict[str, Any]:
    """A BERT-style encoder classifier (Devlin et al. 2018, arXiv:1810.04805): token and learned
    position embeddings, `depth` post-norm blocks (feed-forward 4x the width, exact GELU, layer
    norm epsilon 1e-12), BERT's pooler (the first token through a tanh dense layer) and a
    classification head. Segment embeddings are left out (one segment)."""
    epsilon = 1e-12
    layers: list[dict] = [
        {"name": "embed", "op": "embedding", "units": width, "inputs": ["input"]},
        {"name": "embed_norm", "op": "layer_norm", "epsilon": epsilon},
        {"name": "embed_drop", "op": "dropout", "rate": DROPOUT},
    ]
    source = "embed_drop"
    for index in range(depth):
        layers += _encoder_block(f"b{index + 1}", source, width, heads, epsilon)
        source = layers[-1]["name"]
    layers += [
        {"name": "cls", "op": "first_token"},
        {"name": "pooler", "op": "dense", "units": width},
        {"name": "pooler_tanh", "op": "tanh"},
        {"name": "logits", "op": "dense", "units": classes},
    ]
    return {
        "name": "transformer",
        "vocab_size": vocab,
        "input_shape": [seq],
        "num_classes": classes,
        "batch_size": batch,
        "layers": layers,
        "optimizer": SGD,
    }


def _decoder_block(name: str, source: str, width: int, heads: int) -> list[dict]:
    """A pre-norm decoder block, as GPT-2: norm, causal attention, dropout, add; norm, a
    tanh-GELU feed-forward 4x the width, dropout, add."""
    return [
        {"name": f"{name}_ln1", "op": "layer_norm", "inputs": [source]},
        {"name": f"{name}_attn", "op": "attention", "heads": heads, "mask": "causal"},
        {"name": f"{name}_attn_drop", "op": "dropout", "rate": DROPOUT},
        {"name": f"{name}_attn_add", "op": "add", "inputs": [f"{name}_attn_drop", source]},
        {"name": f"{name}_ln2", "op": "layer_norm"},
        {"name": f"{name}_ffn1", "op": "dense", "units": 4 * width},
        {"name": f"{name}_gelu", "op": "gelu_tanh"},
        {"name": f"{name}_ffn2", "op": "dense", "units": width},
        {"name": f"{name}_ffn_drop", "op": "dropout", "rate": DROPOUT},
        {"name": f"{name}_ffn_add", "op": "add",
         "inputs": [f"{name}_ffn_drop", f"{name}_attn_add"]},
    ]  # fmt: skip


def decoder(vocab: int, seq: int, width: int, depth: int, heads: int, batch: int) -> dict:
    """A GPT-2-style causal language model (Radford et al. 2019, "Language Models are
    Unsupervised Multitask Learners"; the shapes of Hugging Face's gpt2 config): token and
    learned position embeddings, `depth` pre-norm blocks with causal attention and the
    tanh-approximate GELU, a final layer norm and a head tied to the token embedding; trained on
    next-token prediction at every position."""
    layers: list[dict] = [
        {"name": "embed", "op": "embedding", "units": width, "inputs": ["input"]},
        {"name": "embed_drop", "op": "dropout", "rate": DROPOUT},
    ]
    source = "embed_drop"
    for index in range(depth):
        layers += _decoder_block(f"b{index + 1}", source, width, heads)
        source = layers[-1]["name"]
    layers += [
        {"name": "ln_f", "op": "layer_norm"},
        {"name": "logits", "op": "tied_logits", "embedding": "embed"},
    ]
    return {
        "name": "gpt",
        "vocab_size": vocab,
        "input_shape": [seq],
        "num_classes": vocab,
        "loss": "token_cross_entropy",
        "batch_size": batch,
        "layers": layers,
        "optimizer": SGD,
    }


def recurrent(vocab: int, seq: int, width: int, units: tuple[int, ...], batch: int) -> dict:
    """An LSTM text classifier: token embeddings (no positions: the recurrence orders the
    tokens), stacked LSTMs (each but the last returns every step), the last state into a
    two-class head; full sequences, no padding."""
    layers: list[dict] = [
        {
            "name": "embed",
            "op": "embedding",
            "units": width,
            "positions": False,
            "inputs": ["input"],
        }
    ]
    for index, size in enumerate(units, start=1):
        sequence = index < len(units)
        layers.append({"name": f"lstm{index}", "op": "lstm", "units": size, "sequence": sequence})
    layers.append({"name": "logits", "op": "dense", "units": 2})
    return {
        "name": "lstm",
        "vocab_size": vocab,
        "input_shape": [seq],
        "num_classes": 2,
        "batch_size": batch,
        "layers": layers,
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


# name -> size -> the spec document; `small` is read from workloads/NAME.yaml where the preset
# has none.
PRESETS: dict[str, dict[str, Any]] = {
    "mlp": {
        "tiny": lambda: _mlp(16, (16, 16, 8), 8),
        # The width at which float32 GEMMs dominate a step (about 90% of peak on CPUs).
        "full": lambda: _mlp(2048, (4096, 4096, 1024), 512),
    },
    "cnn": {"tiny": tiny_cnn, "full": resnet50},
    "transformer": {
        "tiny": lambda: encoder(vocab=64, seq=8, width=16, depth=1, heads=2, batch=4),
        # BERT-Tiny's shape (Turc et al. 2019, arXiv:1908.08962: L=2, H=128, A=2), sequence 128
        "small": lambda: encoder(vocab=30522, seq=128, width=128, depth=2, heads=2, batch=32),
        # BERT-base (L=12, H=768, A=12, 30,522 WordPiece tokens), sequence 128 as in its
        # pre-training's first phase
        "full": lambda: encoder(vocab=30522, seq=128, width=768, depth=12, heads=12, batch=32),
    },
    "gpt": {
        "tiny": lambda: decoder(vocab=64, seq=8, width=16, depth=1, heads=2, batch=4),
        # GPT-2's depth pattern at BERT-Tiny's width, an 8k vocabulary and context 128: the
        # logits of a step (batch x context x vocab) stay near 64 MB of float32 on a CPU
        "small": lambda: decoder(vocab=8192, seq=128, width=128, depth=2, heads=2, batch=16),
        # GPT-2 small: 50,257 tokens, context 1024, 12 layers of width 768 and 12 heads
        "full": lambda: decoder(vocab=50257, seq=1024, width=768, depth=12, heads=12, batch=8),
    },
    "lstm": {
        "tiny": lambda: recurrent(vocab=64, seq=8, width=16, units=(16,), batch=4),
        # Keras's IMDB LSTM example: 20,000 words, 200 tokens, 128-wide embeddings, one LSTM
        "small": lambda: recurrent(vocab=20000, seq=200, width=128, units=(128,), batch=32),
        # two stacked 1024-unit LSTMs over 256 tokens: the size of a large recurrent classifier
        "full": lambda: recurrent(vocab=50000, seq=256, width=512, units=(1024, 1024), batch=64),
    },
    "recsys": {
        "tiny": lambda: dlrm(
            4, (50, 30, 20), 4, (8,), (8,), 8, ((2, "sum"), (3, "mean"), (1, "sum"))
        ),
        # facebookresearch/dlrm's Criteo Kaggle shape (13 dense, 26 sparse, dimension 16,
        # bottom 13-512-256-64-16, top 512-256) with every table hashed to 100,000 rows
        "small": lambda: dlrm(13, (100_000,) * 26, 16, (512, 256, 64), (512, 256), 128),
        # the same shape, tables hashed to 1,000,000 rows (416M embedding parameters)
        "full": lambda: dlrm(13, (1_000_000,) * 26, 16, (512, 256, 64), (512, 256), 2048),
    },
}
