"""A hand-written loop's task (standard library only: the loops read it in their frameworks'
environments)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class LoopTask:
    """What a hand-written loop runs (frameworks/<name>/selfcheck.py; one JSON line on its
    stdin): the mlp with the canonical weights and batches of the `reference` file, in `tier`,
    timing blocks of `steps` steps (as many as dlarena's worker beside it), on the worker's
    thread settings."""

    VERSION: ClassVar[int] = 1
    reference: str
    tier: str
    steps: int
    intra_op: int
    inter_op: int
