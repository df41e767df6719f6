"""The report's section rows besides the cells' (rows.py): each a record the HTML and Markdown
templates and the tables read by field."""

from __future__ import annotations

import dataclasses

from dlarena.decide.cost import TrainingCost


@dataclasses.dataclass(frozen=True)
class ImportedRow:
    """An imported model in one runtime and tier: whether its inference logits were those of
    ONNX Runtime running the original file, and the largest difference."""

    label: str
    source: str  # the file and its sha256
    runtime: str
    tier: str
    same_as_original: str  # yes, no, or not checked (no original file)
    max_difference: float | None


@dataclasses.dataclass(frozen=True)
class Difference:
    """In one group (workload, mode, tier): the fastest framework over the next, with the
    ratio's 95% CI, p-value and verdict."""

    group: str
    leader: str
    next: str
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str


@dataclasses.dataclass(frozen=True)
class TrainingRow:
    """A workload's measured training cost in one framework."""

    workload: str  # its label
    cost: TrainingCost


@dataclasses.dataclass(frozen=True)
class RunEnvironment:
    """A run whose figures count: when, the machine, threads, each runtime's version."""

    run_id: int
    started: str
    status: str
    cpu: str | None
    cpus: int | None
    threads: list[str]
    python: str | None
    versions: dict[str, str | None]  # runtime -> framework version
    git_sha: str | None
    cells: int  # its cells that count


@dataclasses.dataclass(frozen=True)
class HistoryPoint:
    """One run's figure of a cell kind: throughput and its 95% CI, and where it ran."""

    run_id: int
    cell_id: int
    samples_per_s: float
    low: float
    high: float
    environment: str  # "torch 2.13.0 on <CPU model>"
