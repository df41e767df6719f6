"""Builds a BERT-style encoder classifier with Hugging Face `transformers` (a small config,
random weights: every parameter moved off its initial zeros and ones) and exports it with
torch.onnx's dynamo exporter, as a user would (run in the hf environment:
`python hf_onnx.py OUTDIR`). Token ids in, logits out; the attention mask all ones (none given).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification


def main(out: Path) -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=16, num_labels=3,
    )  # fmt: skip
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    ids = torch.randint(1, 64, (4, 12))
    torch.onnx.export(
        model, (ids,), out / "bert.onnx", dynamo=True, input_names=["input_ids"],
        output_names=["logits"],
    )  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
