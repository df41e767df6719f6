"""The migration proof's first half, made at import: the imported spec's float64 reference
and ONNX Runtime running the original file unchanged give the same output on one batch, within
the parity gate's forward tolerance. (The second half is `parity`/`bench`: every framework
against that reference.)"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from dlarena.frameworks.onnxruntime.records import OriginalTask
from dlarena.measure.parity import against_original as compared
from dlarena.measure.parity import tolerances
from dlarena.probes.host import run_worker
from dlarena.spec import reference
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch

WORKER = "dlarena.frameworks.onnxruntime.original"


@dataclasses.dataclass(frozen=True)
class Proof:
    same: bool
    max_abs: float
    max_rel: float  # over the reference's largest output value, as the gate's forward check
    tolerance: float
    rows: int

    def line(self) -> str:
        verdict = "yes" if self.same else "NO"
        return (
            f"computes the same as the original in ONNX Runtime: {verdict} "
            f"(max difference {self.max_abs:.2e}, {self.max_rel:.1e} of the largest output; "
            f"tolerance {self.tolerance:.0e}; {self.rows} rows)"
        )


def original_output(source: Path, x: np.ndarray, home: Path, timeout_s: float) -> np.ndarray:
    """ONNX Runtime's output for `x` from the original file, run unchanged in its own worker
    (raises ProbeFailed where ONNX Runtime's environment is missing or the run fails)."""
    with tempfile.TemporaryDirectory(prefix="dlarena-original-") as folder:
        tmp = Path(folder)
        np.save(tmp / "x.npy", x)
        task = OriginalTask(str(source), str(tmp / "x.npy"), str(tmp / "logits.npy"))
        run_worker("onnxruntime", WORKER, task, home, task.threads, timeout_s)
        return np.load(tmp / "logits.npy")


def against_original(workload: Workload, source: Path, home: Path, timeout_s: float) -> Proof:
    """The reference's logits (as the original outputs them) and ONNX Runtime's output on the
    original, on the workload's batch."""
    x, _ = synthetic_batch(workload)
    weights = {k: v.astype(np.float64) for k, v in canonical_weights(workload).items()}
    logits, _ = reference.forward(workload, weights, x, training=False)
    original = original_output(source.resolve(), x, home, timeout_s)
    output = workload.source.output if workload.source else "logits"
    max_abs, max_rel = compared(logits, logits, original, output)
    tolerance = tolerances(workload)["forward"]
    return Proof(max_rel <= tolerance, max_abs, max_rel, tolerance, len(x))
