"""What the store keeps of a `dlarena migrate scan`: the summary, the pins and the move (its 30
APIs to rewrite first), not every call site."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from dlarena.migrate.estimate import Estimate


@dataclasses.dataclass(frozen=True)
class ApiMove:
    """An API the code calls from another framework, and how it moves to the target."""

    VERSION: ClassVar[int] = 1
    api: str
    framework: str
    calls: int
    moves: str  # direct | note | none | unknown
    in_target: str


@dataclasses.dataclass(frozen=True)
class ServingOnly:
    """A model whose framework is never trained in the codebase: it can move through ONNX."""

    VERSION: ClassVar[int] = 1
    file: str
    model: str
    framework: str


@dataclasses.dataclass(frozen=True)
class Pin:
    """A framework version pinned in a requirements file or pyproject.toml."""

    VERSION: ClassVar[int] = 1
    file: str
    package: str
    specifier: str  # the pin's version specifier ("version" is the record's own)


@dataclasses.dataclass(frozen=True)
class ScanRecord:
    """One scan: per framework its files, models and call sites per category (`frameworks`),
    and with a target (`to`, else "-") the estimate and the moves."""

    VERSION: ClassVar[int] = 1
    framework: str  # the target, the store's key
    root: str
    to: str
    status: str
    file_count: int
    frameworks: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    pins: tuple[Pin, ...] = ()
    estimate: Estimate | None = None
    serving_only: tuple[ServingOnly, ...] = ()
    api_moves: tuple[ApiMove, ...] = ()
    id: int | None = None  # the store's, once stored
    measured_at: float | None = None

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """A scan as the scanner writes it (or an older dlarena stored it): a plain object whose
        pins name their specifier "version", the key a record's own version has."""
        if "version" in data:
            return data
        pins = [{"file": p["file"], "package": p["package"], "specifier": p["version"]}
                for p in data.get("pins", ())]  # fmt: skip
        return {**data, "pins": pins}
