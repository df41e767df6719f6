"""The parity checker: one worker process that imports one framework once, then builds each
item (a spec in one tier and mode) and checks it against the float64 reference. It times
nothing, so it needs no fresh process per item; a bench cell still gets one.

Reads a CheckTask as JSON on stdin; writes JSON lines (records.py): {"event": "progress",
"phase": "import" | "check", "index": i}, then per item {"event": "checked", "index": i,
"checks": [...]} or {"event": "check_error", "index": i, "type": ..., "message": ...}.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any

from dlarena import events, twin
from dlarena.checker_records import CheckItem, CheckTask
from dlarena.codec import decode, encode
from dlarena.frameworks.base import InferenceAdapter, TrainingAdapter
from dlarena.measure import parity
from dlarena.records import ParityCheck, Setup
from dlarena.spec.model import Workload


def check_item(adapter_cls: Any, setup: Setup, item: CheckItem) -> list[ParityCheck]:
    """Build the item's model with the canonical weights and run the checks its mode has:
    gradients and the first steps for training, the forward pass for inference."""
    workload = Workload.from_dict(item.workload)
    ref = twin.load_reference(item.reference, item.mode == "train")
    bounds = parity.tolerances(workload)
    adapter: InferenceAdapter = twin.build_twin(
        adapter_cls, workload, ref, item.tier, item.mode, setup
    )
    if isinstance(adapter, TrainingAdapter) and item.mode == "train":
        return twin.check_training(adapter, ref, bounds)[1]
    batch = adapter.prepare(ref["x"], ref["y"])
    return twin.check_forward(adapter, batch, ref, bounds)[1]


def compiled_programs_kept(untimed_cache: str) -> dict[str, str]:
    """The environment that has JAX keep every program it compiles in the untimed cache folder
    (process.untimed_cache), however small or quick."""
    return {
        "JAX_COMPILATION_CACHE_DIR": os.path.join(untimed_cache, "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def keep_compiled_programs() -> None:
    """A checker times nothing, so what it compiles is kept on disk for the next one: JAX
    compiles every eager op on first use (a checker of the sequence spec compiled 377 programs,
    17 s of its 26; 8 s in all with them kept). Set before the framework is imported."""
    folder = os.environ.get("DLARENA_UNTIMED_CACHE")
    if folder:
        for name, value in compiled_programs_kept(folder).items():
            os.environ.setdefault(name, value)


def run(task: CheckTask) -> None:
    events.emit("progress", phase="import")
    keep_compiled_programs()
    adapter_cls = twin.import_adapter(task.module)
    setup = adapter_cls.configure(task.threading.intra_op, task.threading.inter_op, task.device)
    for index, item in enumerate(task.items):
        events.emit("progress", phase="check", index=index)
        try:
            checks = check_item(adapter_cls, setup, item)
        except Exception as exc:  # the item fails, named; the next one is checked
            events.emit("check_error", index=index, type=type(exc).__name__, message=str(exc))
        else:
            events.emit(
                "checked",
                index=index,
                checks=encode(checks),
                framework_version=setup.framework_version,
            )
        finally:
            adapter_cls.forget()
            gc.collect()


def main() -> None:
    events.keep_stdout_for_events()
    try:
        run(decode(CheckTask, json.loads(sys.stdin.read())))
    except Exception as exc:
        events.emit("error", type=type(exc).__name__, message=str(exc))
        raise
    events.finish()


if __name__ == "__main__":
    main()
