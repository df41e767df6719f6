"""Size presets of the built-in workloads (built by architectures.py and sequence_models.py):
`tiny` (tests: seconds), `small` (the default CPU run, the YAML files in workloads/) and `full`
(the published size, meant for a GPU).

Presets are spec documents, validated like any spec file.
"""

from __future__ import annotations

from typing import Any

from dlarena.spec.architectures import dlrm, mlp, resnet50, tiny_cnn
from dlarena.spec.sequence_models import decoder, encoder, recurrent

SIZES = ("tiny", "small", "full")
# name -> size -> the spec document; `small` is read from workloads/NAME.yaml where the preset
# has none.
PRESETS: dict[str, dict[str, Any]] = {
    "mlp": {
        "tiny": lambda: mlp(16, (16, 16, 8), 8),
        # The width at which float32 GEMMs dominate a step (about 90% of peak on CPUs).
        "full": lambda: mlp(2048, (4096, 4096, 1024), 512),
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
