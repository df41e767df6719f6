"""Trains one spec in one framework and tier through a given order of batches, inside that
framework's environment: reads a ConvergeTask (converge/records.py) as JSON on stdin, prints one
ConvergeRun line (the curve and the seconds of each step). A step's seconds cover the step and
its synchronization only: batches are placed before it, the loss read and the held-out
evaluation after it."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from dlarena import twin
from dlarena.codec import decode, encode
from dlarena.converge.records import ConvergeRun, ConvergeTask, CurvePoint, HeldOutLoss
from dlarena.ending import leave
from dlarena.spec.model import Workload
from dlarena.spec.reference import softmax_cross_entropy


def evaluate(adapter: Any, batch: Any, labels: np.ndarray) -> tuple[float, float]:
    """(held-out loss, accuracy) of the model as it is now, in float64 from its logits: per
    row, or for a language model per position (the next token)."""
    logits = np.asarray(adapter.to_numpy(adapter.infer(batch)), dtype=np.float64)
    loss, _ = softmax_cross_entropy(logits, labels)
    hits = logits.reshape(-1, logits.shape[-1]).argmax(axis=1) == labels.reshape(-1)
    return loss, float(hits.mean())


def train(task: ConvergeTask) -> ConvergeRun:
    adapter_cls = twin.import_adapter(task.module)
    setup = adapter_cls.configure(task.threads, 1, "cpu")
    data = np.load(task.data)
    weights = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("weights:")}
    workload = Workload.from_dict(task.workload)
    adapter = adapter_cls(workload, weights, task.tier, "train", setup)
    x, y, order = data["x_train"], data["y_train"], data["order"]
    held_out = adapter.prepare(data["x_test"], data["y_test"])
    loss, accuracy = evaluate(adapter, held_out, data["y_test"])
    curve = [CurvePoint(0, loss, accuracy)]
    step_s: list[float] = []
    losses: list[float] = []
    since = 0  # where in `losses` the steps since the last evaluation start
    checked = None
    for step, rows in enumerate(order, start=1):
        batch = adapter.prepare(x[rows], y[rows])
        start = time.perf_counter()
        handle = adapter.train_step(batch)
        adapter.sync(handle)
        step_s.append(time.perf_counter() - start)
        losses.append(float(adapter.to_numpy(handle)))
        if step == task.envelope_step:  # the envelope's held-out check, not on the curve
            checked = HeldOutLoss(step, evaluate(adapter, held_out, data["y_test"])[0])
        if step % task.eval_every == 0 or step == len(order):
            loss, accuracy = evaluate(adapter, held_out, data["y_test"])
            mean = float(np.mean(losses[since:]))
            curve.append(CurvePoint(step, loss, accuracy, sum(step_s), mean))
            since = step
    return ConvergeRun(tuple(losses), tuple(curve), checked, tuple(step_s), setup.framework_version)


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # framework chatter stays off the result line
    found = train(decode(ConvergeTask, json.loads(sys.stdin.read())))
    out.write(json.dumps(encode(found)) + "\n")
    leave(out)


if __name__ == "__main__":
    main()
