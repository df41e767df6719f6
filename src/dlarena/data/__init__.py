"""Real data for training to a target, installed and never downloaded: each dataset with its
source and licence, a fixed train and held-out split, and one seeded order of batches made in
NumPy, the same for every framework.

- `digits`: the 1,797 8x8 handwritten digits scikit-learn ships (a copy of the test set of the
  UCI ML hand-written digits), pixels scaled to [0, 1], NHWC; a seeded 80/20 split.
- `python-docs`: Python's own language reference as the interpreter ships it (pydoc_data's
  topics, about 0.46 MB of English), as UTF-8 bytes (a 256-token vocabulary) in windows of
  next-token targets; the last tenth of the text held out, so no window crosses the split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

HELD_OUT = 0.2  # digits: the share of rows held out
TEXT_HELD_OUT = 0.1  # python-docs: the share of the text, at its end


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    task: str  # images | language
    source: str
    licence: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int  # classes, or the vocabulary of a language task
    synthetic: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def digits() -> Dataset:
    from sklearn.datasets import load_digits

    found = load_digits()
    x = (found.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = found.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(x))
    cut = len(x) - round(HELD_OUT * len(x))
    train, test = order[:cut], order[cut:]
    return Dataset(
        "digits", "images",
        "UCI ML hand-written digits (Alpaydin and Kaynak, 1998), the copy bundled with "
        "scikit-learn (sklearn.datasets.load_digits)",
        "CC BY 4.0 (UCI Machine Learning Repository)",
        x[train], y[train], x[test], y[test], 10,
    )  # fmt: skip


def python_docs(sequence: int = 64) -> Dataset:
    """Windows of `sequence` byte tokens, each with the next byte as its target at every
    position; the windows do not overlap."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key] for key in sorted(topics))
    tokens = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
    cut = len(tokens) - round(TEXT_HELD_OUT * len(tokens))
    x_train, y_train = _windows(tokens[:cut], sequence)
    x_test, y_test = _windows(tokens[cut:], sequence)
    return Dataset(
        "python-docs", "language",
        "The Python Language Reference as shipped with the interpreter (pydoc_data.topics)",
        "Python Software Foundation License Version 2 (Python's documentation)",
        x_train, y_train, x_test, y_test, 256,
    )  # fmt: skip


def _windows(tokens: np.ndarray, sequence: int) -> tuple[np.ndarray, np.ndarray]:
    count = (len(tokens) - 1) // sequence
    starts = np.arange(count) * sequence
    index = starts[:, None] + np.arange(sequence)[None, :]
    return tokens[index], tokens[index + 1]


DATASETS: dict[str, Callable[[], Dataset]] = {"digits": digits, "python-docs": python_docs}


def batch_order(rows: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """(steps, batch_size) row indices: epoch after epoch, each a fresh seeded permutation cut
    into whole batches (an epoch's remainder is left out, so no batch repeats a row)."""
    if not 0 < batch_size <= rows:
        raise ValueError(f"a batch of {batch_size} from {rows} rows")
    rng = np.random.default_rng([seed, 7])
    per_epoch = rows // batch_size
    epochs = -(-steps // per_epoch)
    cut = per_epoch * batch_size
    flat = np.concatenate([rng.permutation(rows)[:cut] for _ in range(epochs)])
    return flat[: steps * batch_size].reshape(steps, batch_size)
