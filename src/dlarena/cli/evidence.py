"""scan: ecosystem health, exclusion rules and risk, every figure sourced and dated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dlarena.cli.common import (
    Format,
    FormatOpt,
    StoreOpt,
    app,
    emit_json,
    err,
    open_store,
    out,
    parse_pairs,
)
from dlarena.frameworks import FRAMEWORKS


@app.command()
def scan(
    online: Annotated[bool, typer.Option(help="also ask GitHub, PyPI and pypistats now")] = False,
    git: Annotated[
        list[str], typer.Option(help="NAME=PATH of a local clone, e.g. jax=../jax")
    ] = [],
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Ecosystem health, exclusion rules and risk per framework, every figure sourced and dated."""
    from dlarena.evidence import gather
    from dlarena.evidence.report import evidence_document, evidence_tables

    clones = {k: Path(v) for k, v in parse_pairs(git, "--git", FRAMEWORKS).items()}
    evidence = gather(
        open_store(store, create=online),
        online=online,
        git=clones,
        token=os.environ.get("GITHUB_TOKEN"),
    )
    for error in evidence.errors:
        err.print(f"[yellow]collector:[/] {escape(error)}", soft_wrap=True)
    if format == Format.json:
        emit_json(evidence_document(evidence))
        return
    for table in evidence_tables(evidence):
        out.print(table)
