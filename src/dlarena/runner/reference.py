"""The reference file a cell's workers read: canonical weights, the batch, float64 expectations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlarena.measure.parity import PARITY_STEPS
from dlarena.records import PROTOCOL_VERSION
from dlarena.runner.process import keep_freed_memory
from dlarena.spec import reference
from dlarena.spec.conditioning import parity_batch
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch


def write_reference(workload: Workload, path: Path, timeout_s: float = 300.0) -> int:
    """Canonical weights, the workload's batch with its float64 logits, and the conditioned
    parity batch with its float64 training trace; for an imported model, ONNX Runtime's logits
    on its original file (a run of at most `timeout_s`). Returns how many parity rows stayed
    ambiguous (0 unless conditioning gave up)."""
    keep_freed_memory()
    weights = canonical_weights(workload)
    x, y = synthetic_batch(workload)
    logits, _ = reference.forward(
        workload, {k: v.astype(np.float64) for k, v in weights.items()}, x, training=False
    )
    parity_x, parity_y, ambiguous = parity_batch(workload, weights, PARITY_STEPS)
    trace = reference.train_trace(workload, weights, parity_x, parity_y, PARITY_STEPS)
    arrays = {
        "format_version": np.array(PROTOCOL_VERSION),
        "x": x,
        "y": y,
        "logits": logits,
        "parity_x": parity_x,
        "parity_y": parity_y,
        "ambiguous_rows": np.array(ambiguous),
        "losses": trace["losses"],
    }
    arrays.update(_original(workload, x, timeout_s))
    arrays.update({f"weights:{k}": v for k, v in weights.items()})
    arrays.update({f"grads:{k}": v for k, v in trace["grads"].items()})
    arrays.update({f"params:{k}": v for k, v in trace["params"].items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return ambiguous


def ambiguity_warnings(rows: int, mode: str) -> tuple[str, ...]:
    """The warning a training cell carries when its parity batch stayed ambiguous."""
    if not rows or mode != "train":
        return ()
    return (
        f"parity_ambiguous: {rows} rows of the parity batch keep a decision within float32 "
        "rounding of its boundary; a training check may fail a correct framework",
    )


def _original(workload: Workload, x: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]:
    """An imported model's output from its original file in ONNX Runtime (and what it applies to
    the logits), where the file is there and ONNX Runtime can run (else no check against the
    original: its column says '-')."""
    source = workload.source
    if source is None or not Path(source.file).is_absolute() or not Path(source.file).is_file():
        return {}
    from dlarena.importer.proof import original_output
    from dlarena.probes.host import ProbeFailed
    from dlarena.runner.envs import dlarena_home

    try:
        output = original_output(Path(source.file), x, dlarena_home(), timeout_s)
    except ProbeFailed:
        return {}
    return {"original_output": output, "original_applies": np.array(source.output)}
