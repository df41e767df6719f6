"""Runs inside a framework's environment: the losses of one batch with dropout on and off.

python tests/probes/dropout.py ADAPTER_MODULE REFERENCE.npz < workload.json
prints {"reference": ..., "twin": ..., "dropped": [..., ...]}: the float64 reference loss,
the parity twin's (dropout off) and two losses of the model as timed (dropout on).
"""

from __future__ import annotations

import importlib
import json
import sys

from dlarena.spec.model import Workload
from dlarena.twin import load_reference


def main() -> None:
    module, reference = sys.argv[1:3]
    workload = Workload.from_dict(json.loads(sys.stdin.read()))
    ref = load_reference(reference)
    adapter_cls = importlib.import_module(module).ADAPTER
    setup = adapter_cls.configure(1, 1, "cpu")
    losses = {"reference": float(ref["losses"][0])}
    twin = adapter_cls(workload.parity_twin(), ref["weights"], "eager", "train", setup)
    losses["twin"] = twin.loss_and_grads(twin.prepare(ref["parity_x"], ref["parity_y"]))[0]
    model = adapter_cls(workload, ref["weights"], "eager", "train", setup)
    batch = model.prepare(ref["parity_x"], ref["parity_y"])
    losses["dropped"] = [model.loss_and_grads(batch)[0]]
    model.train_step(batch)  # the timed step runs, drawing masks of its own
    print(json.dumps(losses))


if __name__ == "__main__":
    main()
