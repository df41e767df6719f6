"""Runs every mistake of one framework in both tiers, inside that framework's environment, and
prints one JSON line: a DebugRecord per (probe, tier). A DebugTask on stdin (probes/records.py).

Each record says whether the mistake was caught, at which stage (trace, call, backward, sync;
'never' when the wrong result came back), the message (ANSI codes stripped), its length, whether
it names the offending shapes or dtypes, and whether the traceback's last frame in the user's
code is the faulty line (the one marked FAULT)."""

from __future__ import annotations

import importlib
import json
import linecache
import math
import re
import sys
import traceback
from typing import Any

import numpy as np

from dlarena.codec import decode, encode
from dlarena.ending import leave
from dlarena.frameworks import part
from dlarena.probes.records import PROBES, DebugRecord, DebugTask

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# what a message must mention to name the mistake: both mismatched sizes, both dtypes
SHAPE_DIMS = ("5", "8")
DTYPES = (("float64", "double", "f64"), ("float32", "float", "f32"))
MESSAGE_KEPT = 2000


def names_shapes(message: str) -> bool:
    numbers = set(re.findall(r"\d+", message))
    return all(dim in numbers for dim in SHAPE_DIMS)


def names_dtypes(message: str) -> bool:
    words = set(re.findall(r"[a-z0-9]+", message.lower()))
    return all(any(name in words for name in names) for names in DTYPES)


# Words without which an error is not about the mistake made (a NaN check that fails because
# the compiler cannot build it has not caught the NaN).
ABOUT = {
    "shape": re.compile(
        r"\bshapes?\b|\bdimensions?\b|\bsizes?\b|incompatible|cannot be multiplied", re.I
    ),
    "dtype": re.compile(r"\bd?types?\b|\bdouble\b|\bfloat(32|64)?\b", re.I),
    "nan": re.compile(r"\bnan\b|\binf\b", re.I),
}


def faulty_line(error: BaseException, case_file: str) -> bool:
    """Whether the last traceback frame inside the case module is a line marked FAULT."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == case_file]
    if not frames:
        return False
    return "# FAULT" in linecache.getline(case_file, frames[-1].lineno or 0)


def message_names_line(message: str, case_file: str) -> bool:
    """Whether the message itself cites a FAULT line (TensorFlow's 'in user code' does)."""
    lines = linecache.getlines(case_file)
    marked = [n for n, text in enumerate(lines, start=1) if "# FAULT" in text]
    return any(f"line {n}" in message for n in marked) and case_file in message


def run_case(case: Any, probe: str, tier: str, case_file: str) -> dict[str, Any]:
    """The DebugRecord fields of one mistake run in one tier."""
    stages: list[str] = ["build"]
    try:
        out = case(tier, stages.append)
    except Exception as error:  # the point of the probe: how the framework reports it
        message = ANSI.sub("", f"{type(error).__name__}: {error}").strip()
        about = bool(ABOUT[probe.removesuffix("_check")].search(message))
        return {
            # raised, but about something else: the mistake itself went unreported
            "status": "works" if about else "fails",
            "caught": about,
            "when": stages[-1] if about else "never",
            "raised_at": stages[-1],
            "error_type": f"{type(error).__module__}.{type(error).__name__}",
            "message": message[:MESSAGE_KEPT],
            "message_length": len(message),
            "names_shapes": names_shapes(message),
            "names_dtypes": names_dtypes(message),
            "faulty_line": faulty_line(error, case_file),
            "message_names_line": message_names_line(message, case_file),
        }
    values = np.asarray(out, dtype=np.float64)
    return {
        "status": "fails",
        "caught": False,
        "when": "never",
        "result": "NaN in the output" if np.isnan(values).any() else "a result came back",
        "output_shape": tuple(values.shape),
        "finite": bool(np.isfinite(values).all()) and not math.isnan(float(values.sum())),
    }


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # framework chatter stays off the result line
    task = decode(DebugTask, json.loads(sys.stdin.read()))
    module = importlib.import_module(part(task.framework, "mistakes"))
    records = []
    for probe in PROBES:
        case = getattr(module, probe)
        mode = module.NAN_MODE if probe == "nan_check" else None
        for tier in task.tiers:
            if case is None:
                reason = f"{task.framework} has no NaN-checking mode"
                found: dict[str, Any] = {"status": "skipped", "reason": reason}
            else:
                found = run_case(case, probe, tier, str(module.__file__))
            records.append(DebugRecord(task.framework, probe, tier, nan_mode=mode, **found))
    out.write(json.dumps(encode(records)) + "\n")
    leave(out)


if __name__ == "__main__":
    main()
