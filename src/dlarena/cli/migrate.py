"""migrate: what a team's code uses of each framework, what maps to another, and the size of
the move."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlarena.cli.common import (
    Format,
    FormatOpt,
    StoreOpt,
    app,
    emit_json,
    err,
    open_store,
    out,
    print_table,
    sub_app,
)
from dlarena.errors import DlarenaError

if TYPE_CHECKING:
    from dlarena.migrate.records import ScanDocument

migrate_app = sub_app("Scan a codebase and size a move to another framework.")
app.add_typer(migrate_app, name="migrate")
CATEGORIES = ("model", "training", "data", "distributed", "export", "custom", "utility")


@migrate_app.command("scan")
def scan(
    path: Annotated[Path, typer.Argument(help="a folder (or one file) of Python and notebooks")],
    to: Annotated[
        str | None,
        typer.Option(help="torch, tensorflow, jax or mxnet: what maps there, and the move's size"),
    ] = None,
    team: Annotated[
        int, typer.Option(min=1, max=1000, help="engineers on the move (the estimate's team)")
    ] = 4,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Read every .py file and notebook under PATH with Python's own parser (nothing is run):
    per framework, the files, the models (classes deriving from a framework's module class,
    Keras Sequential and functional models) and the call sites per category, and the versions
    pinned in requirement files and pyproject.toml. With --to: per file and per API, what maps
    directly, what maps with a note (a layout, a default, a convention), what has no equivalent;
    the models that could move through ONNX; and the move in engineer-weeks, every coefficient
    with its source. The scan is stored: the report's "Moving from what you have" shows the
    newest."""
    from dlarena.migrate import estimate, mapping, pins
    from dlarena.migrate import scan as scanner
    from dlarena.migrate.records import ScanDocument

    if not path.exists():
        raise DlarenaError(f"no such file or folder: {path}")
    if to is not None and to not in mapping.FRAMEWORKS:
        raise DlarenaError(f"unknown framework '{to}'; choose from {', '.join(mapping.FRAMEWORKS)}")
    with err.status(f"migrate: reading {path}"):
        scans = scanner.scan(path)
    document = ScanDocument(str(path), _summary(scans), tuple(pins.pins(path)), tuple(scans))
    if to is not None:
        document = dataclasses.replace(
            document,
            to=to,
            file_moves=tuple(estimate.file_moves(scans, to)),
            api_moves=tuple(estimate.api_moves(scans, to)),
            serving_only=tuple(estimate.serving_only(scans, to)),
            estimate=estimate.estimate(scans, to, team),
        )
    with contextlib.closing(open_store(store, True)) as db:
        db.add_probes("migrate", [document.record(str(path.resolve()))], name="root", tier="to")
    if format == Format.json:
        emit_json(document.as_dict())
    else:
        _print(document)


def _summary(scans: list[Any]) -> dict[str, dict[str, Any]]:
    """Per framework: files, models and call sites per category."""
    found: dict[str, dict[str, Any]] = {}
    for s in scans:
        for framework in s.frameworks:
            row = found.setdefault(
                framework, {"files": 0, "models": 0, **dict.fromkeys(CATEGORIES, 0)}
            )
            row["files"] += 1
            row["models"] += sum(m[1] == framework for m in s.models)
            for call in s.calls:
                row[call.category] += call.framework == framework
    return found


def _print(document: ScanDocument) -> None:
    summary = document.frameworks
    if not summary:
        out.print(f"no framework is imported under {document.root}")
    rows = [
        [fw, *(str(row[k]) for k in ("files", "models", *CATEGORIES))]
        for fw, row in summary.items()
    ]
    print_table(
        "what the code uses (call sites per category)",
        ("framework", "files", "models", *CATEGORIES),
        rows,
    )
    broken = [f for f in document.files if f.error]
    if broken:
        print_table(
            "files that do not parse (skipped)",
            ("file", "error"),
            [[f.path, f.error or ""] for f in broken],
        )
    if document.pins:
        print_table(
            "versions pinned",
            ("file", "package", "version"),
            [[p.file, p.package, p.specifier] for p in document.pins],
        )
    if document.to is None:
        return
    _moves(document, document.to)


def _moves(document: ScanDocument, to: str) -> None:
    columns = ("file", "maps directly", "with a note", "no equivalent", "not in the table")
    rows = [[m.file, str(m.direct), str(m.note), str(m.none), str(m.unknown)]
            for m in document.file_moves]  # fmt: skip
    print_table(f"per file, moving to {to}", columns, rows)
    rows = [[m.api, str(m.calls), m.moves, m.in_target] for m in document.api_moves]
    title, note = f"per API, moving to {to}: what to rewrite first", f"{len(rows)} APIs in all"
    print_table(title, ("api", "calls", "moves", f"in {to}"), rows[:40], note)
    for row in document.serving_only:
        out.print(
            f"{row.file}: {row.model} ({row.framework}) is never trained here: it can "
            f"move through ONNX (export it; `dlarena import MODEL.onnx` proves it in {to})"
        )
    found = document.estimate
    if found is None:
        return
    out.print(f"the move: {found.low_weeks:.1f}-{found.high_weeks:.1f} engineer-weeks")
    for line in found.lines:
        out.print(f"  {line}")
