"""What the store keeps of a `dlarena migrate scan`: the summary, the pins and the move (its 30
APIs to rewrite first), not every call site."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dlarena.migrate.scan import FileScan


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The move in engineer-weeks, low and high, and how it was computed."""

    VERSION: ClassVar[int] = 1
    low_weeks: float
    high_weeks: float
    lines: tuple[str, ...]  # how it was computed, each coefficient with its source


@dataclasses.dataclass(frozen=True)
class FileMove:
    """A file using another framework: its call sites by how they move to the target."""

    file: str
    direct: int
    note: int
    none: int
    unknown: int


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

    def as_dict(self) -> dict[str, str]:
        """As the scan's JSON document names it."""
        return {"file": self.file, "package": self.package, "version": self.specifier}


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
        """A scan as an older dlarena stored it: a plain object whose pins name their specifier
        "version", the key a record's own version has."""
        if "version" in data:
            return data
        pins = [{"file": p["file"], "package": p["package"], "specifier": p["version"]}
                for p in data.get("pins", ())]  # fmt: skip
        return {**data, "pins": pins}


@dataclasses.dataclass(frozen=True)
class ScanDocument:
    """Everything one scan found (what `migrate scan` prints, `as_dict` its JSON): per framework
    its files, models and call sites per category, the pins and every file's scan; with a target
    (`to`) the moves per file and per API, the serving-only models and the estimate."""

    root: str
    frameworks: dict[str, dict[str, int]]
    pins: tuple[Pin, ...]
    files: tuple[FileScan, ...]  # one per file read
    to: str | None = None
    file_moves: tuple[FileMove, ...] = ()
    api_moves: tuple[ApiMove, ...] = ()
    serving_only: tuple[ServingOnly, ...] = ()
    estimate: Estimate | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "root": self.root,
            "frameworks": self.frameworks,
            "pins": [p.as_dict() for p in self.pins],
            "files": [dataclasses.asdict(f) for f in self.files],
        }
        if self.to is not None:
            found |= {
                "to": self.to,
                "file_moves": [dataclasses.asdict(m) for m in self.file_moves],
                "api_moves": [dataclasses.asdict(m) for m in self.api_moves],
                "serving_only": [dataclasses.asdict(m) for m in self.serving_only],
                "estimate": dataclasses.asdict(self.estimate) if self.estimate else None,
            }
        return found

    def record(self, path: str) -> ScanRecord:
        """What the store keeps: the summary, pins, the move (its 30 APIs to rewrite first),
        not every call site."""
        return ScanRecord(
            framework=self.to or "-", root=path, to=self.to or "-", status="scanned",
            file_count=len(self.files), frameworks=self.frameworks, pins=self.pins,
            estimate=self.estimate, serving_only=self.serving_only,
            api_moves=self.api_moves[:30],
        )  # fmt: skip
