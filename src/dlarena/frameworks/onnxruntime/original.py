"""Worker: an imported model's original ONNX file, run unchanged in ONNX Runtime on a batch the
host wrote (NHWC images are turned to the file's NCHW here). Writes the logits beside it.

    python -m dlarena.frameworks.onnxruntime.original < task.json
task: an OriginalTask (records.py). A file that fixes its batch runs that many rows at a time;
one that reads images as NHWC gets them as they are.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort

from dlarena import ending
from dlarena.codec import decode
from dlarena.frameworks.onnxruntime.records import OriginalTask


def run(task: OriginalTask) -> dict[str, object]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = task.threads
    session = ort.InferenceSession(task.model, options, providers=["CPUExecutionProvider"])
    found = session.get_inputs()[0]
    x = np.load(task.x)
    if len(found.shape) == 4 and list(found.shape[1:]) != list(x.shape[1:]):
        x = x.transpose(0, 3, 1, 2)  # the spec's NHWC images, the file's NCHW
    if "int" in found.type:  # token ids: the spec's int32, the file's own integer type
        x = x.astype(np.int64 if "int64" in found.type else np.int32)
    rows = found.shape[0] if isinstance(found.shape[0], int) else len(x)
    outputs = []
    for start in range(0, len(x), rows):
        chunk = x[start : start + rows]
        short = rows - len(chunk)  # a fixed batch is filled up, and the filling dropped
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], short, 0)]) if short else chunk
        logits = session.run(None, {found.name: np.ascontiguousarray(padded)})[0]
        outputs.append(logits[: len(chunk)])
    np.save(task.out, np.concatenate(outputs).astype(np.float64))
    return {"rows": len(x), "onnxruntime": ort.__version__}


if __name__ == "__main__":
    print(json.dumps(run(decode(OriginalTask, json.loads(sys.stdin.read())))), flush=True)
    ending.leave()
