"""report: the decision report, answer first, as one offline HTML file and as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dlarena.cli.common import (
    Format,
    FormatOpt,
    ProfileOpt,
    RunOpt,
    StoreOpt,
    app,
    emit_json,
    open_store,
    out,
    pinned_run,
)
from dlarena.errors import DlarenaError

DEFAULT_OUTPUT = Path("dlarena-report") / "index.html"


@app.command()
def report(
    profile: ProfileOpt = None,
    output: Annotated[
        Path, typer.Option("--output", help="the HTML file; the Markdown goes beside it (.md)")
    ] = DEFAULT_OUTPUT,
    run: RunOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """The decision report: the recommendation and its reasons first, then the performance,
    evidence, fit, cost and environment behind it. Figures: the newest cell of each kind that
    passed parity, across runs (--run pins one run)."""
    from dlarena.decide.profile import load_profile
    from dlarena.report.content import build_report
    from dlarena.report.html import write_html
    from dlarena.report.markdown import write_markdown

    db = open_store(store)
    built = build_report(db, load_profile(profile), pinned_run(db, run))
    markdown = output.with_suffix(".md")
    if output.suffix.lower() not in (".html", ".htm"):
        raise DlarenaError(f"--output {output} must name an .html file (the Markdown goes beside)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_html(output, built)
        write_markdown(markdown, built)
    except OSError as exc:
        raise DlarenaError(
            f"cannot write the report to {output} ({exc.strerror}: {exc.filename}); "
            "give --output a writable path"
        ) from None
    if format == Format.json:
        emit_json(
            {
                "html": str(output.resolve()),
                "markdown": str(markdown.resolve()),
                "answer": built.answer_line,
                "runs": list(built.selection.runs),
            }
        )
        return
    out.print(f"report: {output.resolve()}\nmarkdown: {markdown.resolve()}")
    out.print(f"answer: {built.answer_line}", soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind (only this machine by default)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8765,
    store: StoreOpt = None,
) -> None:
    """A local, read-only dashboard over the store: runs, one run, two runs compared, each
    framework's history, the evidence, the decision report; JSON under /api (/openapi.json)."""
    from dlarena.dashboard.server import serve as run_server

    db = open_store(store)
    db.close()
    out.print(f"dashboard: http://{host}:{port}/ over {db.path} (read-only; Ctrl-C stops it)")
    run_server(db.path, host, port)


@app.command()
def screenshots(
    folder: Annotated[Path, typer.Argument(help="where the PNGs go")],
    store: StoreOpt = None,
) -> None:
    """A full-page PNG of every dashboard page (headless Chromium), for review."""
    from dlarena.dashboard.server import screenshots as take
    from dlarena.frameworks import FRAMEWORKS

    db = open_store(store)
    runs = [r.id for r in db.runs()]
    db.close()
    for path in take(db.path, folder, runs, FRAMEWORKS):
        out.print(str(path.resolve()))
