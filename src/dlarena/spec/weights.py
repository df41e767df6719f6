"""Seeded canonical weights and synthetic data, made in numpy so every framework gets the same."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from dlarena.errors import SpecError
from dlarena.spec.model import Workload
from dlarena.spec.shapes import parameter_shapes


def canonical_weights(workload: Workload) -> dict[str, np.ndarray]:
    """The weights every framework starts from: the spec's own (imported) or seeded ones."""
    if workload.weights is not None:
        return imported_weights(workload)
    return seeded_weights(workload)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def imported_weights(workload: Workload) -> dict[str, np.ndarray]:
    """The spec's weights file, checked: its sha256, and exactly the model's arrays and shapes."""
    assert workload.weights is not None
    path = Path(workload.weights.file)
    where = f"workload '{workload.name}': weights {path}"
    if not path.is_file():
        raise SpecError(f"{where} does not exist; import the model again or fix the path")
    if sha256_of(path) != workload.weights.sha256:
        raise SpecError(
            f"{where} does not match the sha256 the spec names; the file changed since the "
            "import: import the model again"
        )
    try:
        with np.load(path, allow_pickle=False) as found:
            arrays = {k: found[k] for k in found.files}
    except (OSError, ValueError) as exc:
        raise SpecError(f"{where} is not a readable .npz: {exc}") from None
    wanted = parameter_shapes(workload)
    if set(arrays) != set(wanted):
        raise SpecError(
            f"{where} holds {sorted(set(arrays) - set(wanted)) or 'no extra arrays'} and lacks "
            f"{sorted(set(wanted) - set(arrays)) or 'none'}; it was made for another model"
        )
    for key, shape in wanted.items():
        if arrays[key].shape != shape:
            raise SpecError(f"{where}: '{key}' has shape {arrays[key].shape}, the model {shape}")
    return {k: arrays[k].astype(np.float32) for k in wanted}


def seeded_weights(workload: Workload) -> dict[str, np.ndarray]:
    """He-scaled kernels (attention's projections 1/sqrt(fan-in), softmax stays soft), unit-scale
    token embeddings, small biases and non-trivial norm state, from the spec's seed."""
    rng = np.random.default_rng(workload.seed)
    weights = {}
    for key, shape in parameter_shapes(workload).items():
        kind = key.rsplit(".", 1)[1]
        if kind == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif kind.endswith("_kernel"):
            value = rng.normal(0.0, np.sqrt(1.0 / shape[0]), shape)
        elif kind == "table":
            value = rng.normal(0.0, 1.0, shape)
        elif kind == "gamma":
            value = 1.0 + rng.normal(0.0, 0.1, shape)
        elif kind == "moving_var":
            value = rng.uniform(0.5, 1.5, shape)
        else:  # bias, beta, moving_mean
            value = rng.normal(0.0, 0.1, shape)
        weights[key] = value.astype(np.float32)
    return weights


def draw_inputs(workload: Workload, rng: np.random.Generator, rows: int) -> np.ndarray:
    """`rows` inputs: float32 (NHWC for images; an embedding bag's id columns hold skewed ids,
    exact in float32), or token ids (int32); where a padding mask
    reads them, padded with 0 after a length drawn between half the sequence and all of it (the
    first token is never padding)."""
    shape = (rows, *workload.input_shape)
    if not workload.tokens:
        x = rng.normal(0.0, 1.0, shape).astype(np.float32)
        for layer in workload.layers:
            if layer.op == "embedding_bag":
                start, size = layer.attr("start"), layer.attr("size")
                x[:, start : start + size] = skewed_ids(rng, layer.attr("vocab"), (rows, size))
        return x
    ids = rng.integers(1, workload.vocab_size, shape)
    if not any(
        layer.op == "attention" and layer.attr("mask") == "padding" for layer in workload.layers
    ):
        return ids.astype(np.int32)  # nothing masks padding: full sequences
    seq = workload.input_shape[0]
    lengths = rng.integers(max(1, seq // 2), seq + 1, rows)
    ids[np.arange(seq)[None, :] >= lengths[:, None]] = 0
    return ids.astype(np.int32)


def draw_batch(
    workload: Workload, rng: np.random.Generator, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """`rows` inputs and their integer labels: a class per row, or for a language model the next
    token at every position (a sequence one longer, shifted; no padding, as packed text)."""
    if workload.loss == "token_cross_entropy":
        ids = rng.integers(1, workload.vocab_size, (rows, workload.input_shape[0] + 1))
        return ids[:, :-1].astype(np.int32), ids[:, 1:].astype(np.int32)
    x = draw_inputs(workload, rng, rows)
    return x, rng.integers(0, workload.num_classes, rows).astype(np.int32)


def skewed_ids(rng: np.random.Generator, vocab: int, shape: tuple[int, ...]) -> np.ndarray:
    """Ids with the skew of real categorical features: floor(vocab^u) - 1 for uniform u, so an
    id's chance falls as 1/(id + 1) (Zipf's law with exponent 1): a few ids dominate."""
    return np.floor(vocab ** rng.uniform(0.0, 1.0, shape)).clip(1, vocab) - 1


def synthetic_batch(workload: Workload, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One batch of inputs and integer labels."""
    return draw_batch(workload, np.random.default_rng([workload.seed, seed]), workload.batch_size)
