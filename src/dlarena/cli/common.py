"""What every command group shares: the app, consoles, options, the store, tables and JSON."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from dlarena.cli.groups import GroupedCommands, PlainHelp
from dlarena.errors import DlarenaError
from dlarena.spec.presets import PRESETS

if TYPE_CHECKING:
    from dlarena.spec.model import Workload
    from dlarena.store import Store

# Commands import what they use when they run: `dlarena --help` loads no numpy, pydantic or
# store.
BUILTIN = tuple(PRESETS)

# Plain help, not typer's rich panels: `--help` answers in a fraction of the time.
PLAIN_HELP: dict[str, Any] = {
    "rich_markup_mode": None,
    "context_settings": {"max_content_width": 100},
}

app = typer.Typer(
    cls=GroupedCommands,
    help="Which deep learning framework should we use? Measured, not guessed.",
    epilog="First time: 'make run' (or 'dlarena envs create', then 'dlarena bench --quick' and "
    "'dlarena report'). Each command's --help says more; docs/ in the source tree has a page "
    "per command group.",
    no_args_is_help=True,
    add_completion=False,
    **PLAIN_HELP,
)


def sub_app(help: str, no_args_is_help: bool = True) -> typer.Typer:
    """A command group under `dlarena` (envs, spec, profile, probe), with plain help too."""
    return typer.Typer(help=help, no_args_is_help=no_args_is_help, cls=PlainHelp, **PLAIN_HELP)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"dlarena {version('dlarena')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print it and exit."),
    ] = False,
) -> None:
    """Which deep learning framework should we use? Measured, not guessed."""
err = Console(stderr=True)
# Piped or redirected output is printed whole: a table is never cut to a terminal's width.
out = Console() if sys.stdout.isatty() else Console(width=100_000)


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="table, or one JSON document")]
StoreOpt = Annotated[
    Path | None, typer.Option(help="SQLite store (default: <home>/dlarena.sqlite)")
]
SizeOpt = Annotated[
    str, typer.Option(help="built-in workloads' size: tiny, small or full (GPU-sized)")
]
PrecisionOpt = Annotated[
    list[str],
    typer.Option(
        help="fp32 and/or bf16 (fp16: GPUs): the compute precision; parameters and optimizer "
        "state stay float32 (mixed precision, each framework's own mechanism)"
    ),
]
WORKLOAD_HELP = f"a built-in workload ({', '.join(BUILTIN)}) or a spec file"
RunOpt = Annotated[
    str | None, typer.Option("--run", metavar="ID|last", help="a run id, or 'last' for the newest")
]
ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="profile YAML (examples/)")]
WeightOpt = Annotated[
    list[str], typer.Option("--weight", help="CRITERION=NUMBER, over the profile")
]


def within(low: float, high: float = math.inf) -> Callable[[Any], Any]:
    """An option callback: a finite number from `low` to `high` (typer's ranges let nan pass)."""

    def check(value: Any) -> Any:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            bound = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
            raise typer.BadParameter(f"{value} must be a finite number {bound}")
        return value

    return check


def open_store(path: Path | None, create: bool = False) -> Store:
    """The store; only commands that measure or collect create it. A read command given a
    --store that does not exist is an error (a typo must not read as 'no runs')."""
    from dlarena.runner import envs
    from dlarena.store import Store

    if path is not None and not create and not path.exists():
        raise DlarenaError(f"no store at {path}; check --store ('dlarena bench' creates one)")
    chosen = path or envs.dlarena_home() / "dlarena.sqlite"
    if not create and not chosen.exists():
        err.print(
            f"[yellow]note:[/] no store at {escape(str(chosen))} (the default: DLARENA_HOME, "
            "else ./.dlarena): nothing measured is read, so answers rest on published ratings; "
            "run from the folder you benchmarked in, or give --store",
            soft_wrap=True,
            highlight=False,
        )
    return Store(chosen, create=create)


def run_id_of(db: Store, run: str | None) -> int:
    """The run asked for (an id, or 'last'), else the latest; an empty store names the command
    that fills it."""
    if run is not None and run != "last":
        try:
            run_id = int(run)
        except ValueError:
            raise DlarenaError(f"--run {run!r}: give a run id or 'last'") from None
        db.run_info(run_id)  # an unknown run id is an error, not an empty table
        return run_id
    latest = db.latest_run()
    if latest is None:
        raise DlarenaError(f"no runs in {db.path}; run 'dlarena bench' first")
    return int(latest)


def pinned_run(db: Store, run: str | None) -> int | None:
    """The one run --run pins (an id, or 'last'), or None: the figures that count across runs."""
    return None if run is None else run_id_of(db, run)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    caption: str | None = None,
) -> None:
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def check_precision(precision: str) -> str:
    """A compute precision dlarena knows, or an input error naming them."""
    from dlarena.spec.model import PRECISIONS

    if precision not in PRECISIONS:
        raise DlarenaError(f"precision '{precision}' is unknown; choose {', '.join(PRECISIONS)}")
    return precision


def at_precisions(workloads: Sequence[Workload], precisions: Sequence[str]) -> list[Workload]:
    """Each workload at each precision ('mlp', 'mlp-bf16'), or an input error."""
    for precision in precisions:
        check_precision(precision)
    return [w.at_precision(p) for w in workloads for p in dict.fromkeys(precisions or ["fp32"])]


def parse_pairs(values: list[str], option: str, known: Iterable[str]) -> dict[str, str]:
    """NAME=VALUE options, NAME one of `known`."""
    allowed = tuple(known)
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or name not in allowed:
            raise DlarenaError(
                f"{option} '{value}' is not NAME=VALUE with NAME one of {', '.join(allowed)}"
            )
        pairs[name] = rest
    return pairs
