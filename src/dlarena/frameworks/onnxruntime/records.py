"""The original-file worker's task (original.py): standard library only, read on both sides."""

from __future__ import annotations

import dataclasses
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class OriginalTask:
    """Run the ONNX file at `model` unchanged on the batch saved at `x` (.npy) and save its
    output at `out` (.npy, float64)."""

    VERSION: ClassVar[int] = 1
    model: str
    x: str
    out: str
    threads: int = 1
