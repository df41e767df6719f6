"""envs list | create | check: the framework environments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dlarena.cli.common import Format, FormatOpt, app, emit_json, err, print_table, sub_app
from dlarena.frameworks import DEFAULT_RUNTIMES
from dlarena.report.rows import fmt
from dlarena.runner import envs, making

envs_app = sub_app("Framework environments (virtualenvs from pinned requirement files).")
app.add_typer(envs_app, name="envs")


@envs_app.command("list")
def envs_list(format: FormatOpt = Format.table) -> None:
    """Known environments, where they live and whether they are created."""
    home = envs.dlarena_home()
    rows = [
        {
            "name": e.name,
            "created": e.exists(),
            "python": e.python,
            "requirements": str(e.requirements) if e.requirements else None,
        }
        for e in envs.environments(home).values()
    ]
    if format == Format.json:
        emit_json(rows)
        return
    _say_notes(home)
    columns = ("name", "created", "python", "requirements")
    print_table(
        f"environments in {envs.environments_root()}",
        columns,
        ([fmt(r[c]) for c in columns] for r in rows),
    )


@envs_app.command("create")
def envs_create(name: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Create environments (all but the on-demand export-* ones by default); an up-to-date one
    is left as it is."""
    home = envs.dlarena_home()
    targets = [envs.get(n, home) for n in name] if name else making.default_targets(home)
    latest: dict[str, str] = {}
    with err.status("creating environments") as status:

        def show(env_name: str, line: str) -> None:
            latest[env_name] = line[:60]
            status.update(" | ".join(f"{n}: {text}" for n, text in latest.items()))

        def done(env: envs.Environment, created: bool) -> None:
            latest.pop(env.name, None)
            err.print(making.done_line(env, created))

        making.create_all(targets, show, done)
    _say_notes(home)


@envs_app.command("check")
def envs_check(format: FormatOpt = Format.table) -> None:
    """Which runtime each environment can serve, with versions."""
    home = envs.dlarena_home()
    result = {
        e.name: envs.installed_versions(e) if e.exists() else None
        for e in envs.environments(home).values()
    }
    if format == Format.json:
        emit_json(result)
        return
    print_table(
        "runtime versions per environment",
        ("env", *DEFAULT_RUNTIMES),
        (
            [name, *(fmt(versions.get(r)) if versions else "not created" for r in DEFAULT_RUNTIMES)]
            for name, versions in result.items()
        ),
    )


def _say_notes(home: Path) -> None:
    for note in envs.notes(home):
        err.print(f"[yellow]note:[/] {escape(note)}")
