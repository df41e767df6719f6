"""The built-in token models as spec documents at any size: a BERT-style encoder, a GPT-style
decoder and an LSTM classifier."""

from __future__ import annotations

from typing import Any

from dlarena.spec.architectures import SGD

# BERT's hidden_dropout_prob and GPT-2's embd_pdrop/resid_pdrop; their dropout on attention
# probabilities is not modelled (no layer exposes it)
DROPOUT = 0.1


def _encoder_block(name: str, source: str, width: int, heads: int, epsilon: float) -> list[dict]:
    """A post-norm encoder block, as BERT: attention with the padding mask, dropout, add and norm,
    a GELU feed-forward 4x the width, dropout, add and norm."""
    return [
        {"name": f"{name}_attn", "op": "attention", "heads": heads, "mask": "padding",
         "inputs": [source]},
        {"name": f"{name}_attn_drop", "op": "dropout", "rate": DROPOUT},
        {"name": f"{name}_attn_add", "op": "add", "inputs": [f"{name}_attn_drop", source]},
        {"name": f"{name}_attn_norm", "op": "layer_norm", "epsilon": epsilon},
        *_feed_forward(name, width, "gelu", f"{name}_attn_norm"),
        {"name": f"{name}_ffn_norm", "op": "layer_norm", "epsilon": epsilon},
    ]  # fmt: skip


def _feed_forward(name: str, width: int, activation: str, residual: str) -> list[dict]:
    """A block's feed-forward 4x the width, its dropout, and the add of `residual`."""
    return [
        {"name": f"{name}_ffn1", "op": "dense", "units": 4 * width},
        {"name": f"{name}_gelu", "op": activation},
        {"name": f"{name}_ffn2", "op": "dense", "units": width},
        {"name": f"{name}_ffn_drop", "op": "dropout", "rate": DROPOUT},
        {"name": f"{name}_ffn_add", "op": "add", "inputs": [f"{name}_ffn_drop", residual]},
    ]


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
        *_feed_forward(name, width, "gelu_tanh", f"{name}_attn_add"),
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
