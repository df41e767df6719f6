"""Runs one export path of one framework over several workloads, inside that framework's
environment, and prints one JSON line: a DeployRecord per workload. A DeployTask on stdin
(probes/records.py).

Each record: works / deprecated / fails (with the error) / skipped (the exporter is not in this
environment); export time (first and warm), artifact size, load time, the artifact's median
latency per call, and its max abs difference from the framework's own output. An export that
succeeds but computes something else is a failure."""

from __future__ import annotations

import importlib
import importlib.util
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dlarena.codec import decode, encode
from dlarena.ending import leave
from dlarena.frameworks import RUNTIMES, part
from dlarena.probes.records import DeployRecord, DeployTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch

TOLERANCE = 1e-4  # max abs difference, relative to the largest output (at least 1)
# an int8 path: its weights rounded to 1/127 of each tensor's (or row's) largest, its
# activations to 1/255 of their range, a few layers deep: a few percent of the largest output;
# beyond this it computes something else
QUANTIZED_TOLERANCE = 0.1


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    found = list(path.parent.glob(f"{path.name}*"))  # a prefix names several files (MXNet)
    return sum(p.stat().st_size for p in found if p.is_file())


def timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def probe(
    adapter_cls: Any, setup: Any, path: Any, workload: Workload, folder: Path, calls: int
) -> dict[str, Any]:
    """The DeployRecord fields of one export, load and run of the path on the workload."""
    adapter = adapter_cls(workload, canonical_weights(workload), "eager", "infer", setup)
    x, y = synthetic_batch(workload)
    batch = adapter.prepare(x, y)
    own = np.asarray(adapter.to_numpy(adapter.infer(batch)), dtype=np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        artifact, first_s = timed(lambda: path.export(adapter, batch[0], _fresh(folder / "first")))
        _, warm_s = timed(lambda: path.export(adapter, batch[0], _fresh(folder / "warm")))
        loaded, load_s = timed(lambda: path.load(artifact, batch[0]))
    out = np.asarray(path.run(loaded, batch[0]), dtype=np.float64)
    seconds = [timed(lambda: path.run(loaded, batch[0]))[1] for _ in range(calls)]
    said = sorted({" ".join(str(w.message).split())[:200] for w in caught
                   if "deprecat" in str(w.message).lower()})  # fmt: skip
    ours = [w for w in said if any(k in w.lower() for k in path.warns_about)]
    record = {
        "export_first_s": first_s,
        "export_warm_s": warm_s,
        "artifact_bytes": size_of(artifact),
        "load_s": load_s,
        "latency_ms": 1000 * statistics.median(seconds),
        "target": path.target,
        "deprecation_warnings": tuple(said),
    }
    if out.shape != own.shape:
        return {**record, "status": "fails", "error": f"output shape {out.shape}, not {own.shape}"}
    diff = float(np.max(np.abs(out - own))) if out.size else 0.0
    largest = max(1.0, float(np.max(np.abs(own))))
    bound = (QUANTIZED_TOLERANCE if path.quantized else TOLERANCE) * largest
    record["max_abs_diff"] = diff if np.isfinite(diff) else None
    if path.quantized:  # what int8 costs in accuracy, beside its latency
        record.update(quantized=True, relative_diff=diff / largest if np.isfinite(diff) else None)
        if diff <= TOLERANCE * largest:
            record["note"] = (
                "nothing was quantized here: it computes as float32 does (the converter keeps "
                "small tensors in float32)"
            )
    if not np.isfinite(out).all() or diff > bound:
        return {**record, "status": "fails", "error": f"computes something else: max abs diff "
                f"{diff:.3g} from the framework's own output (bound {bound:.2g})"}  # fmt: skip
    if path.deprecated or ours:
        return {**record, "status": "deprecated", "deprecated": path.deprecated or ours[0]}
    return {**record, "status": "works"}


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # framework chatter stays off the result line
    task = decode(DeployTask, json.loads(sys.stdin.read()))
    path = importlib.import_module(part(task.framework, "exports")).PATHS[task.path]
    adapter_cls = importlib.import_module(RUNTIMES[task.framework].module).ADAPTER
    setup = adapter_cls.configure(task.threads, 1, "cpu")
    records = []
    for index, spec in enumerate(task.workloads):
        workload = Workload.from_dict(spec)
        if path.needs and importlib.util.find_spec(path.needs) is None:
            reason = f"needs {path.needs}, not in this environment (an environment of its own)"
            found = {"status": "skipped", "reason": reason, "target": path.target}
        else:
            try:
                found = probe(adapter_cls, setup, path, workload, Path(task.folder) / str(index),
                              task.calls)  # fmt: skip
            except Exception as error:  # the export path failed: that is the finding
                message = f"{type(error).__name__}: {error}".strip()
                found = {"status": "fails", "error": message[:600], "target": path.target}
        records.append(DeployRecord(task.framework, task.path, workload.name,
                                    spec_hash=workload.content_hash, **found))  # fmt: skip
    out.write(json.dumps(encode(records)) + "\n")
    leave(out)


if __name__ == "__main__":
    main()
