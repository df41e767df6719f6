"""The dlarena command line: one module per command group. No deep learning framework is
imported here (`dlarena --help` must not pay for TensorFlow)."""

from __future__ import annotations

from rich.markup import escape

from dlarena.cli.common import app, err
from dlarena.errors import DlarenaError, Interrupted

try:  # the framework registry reads DLARENA_FRAMEWORKS: a wrong name is a user error
    import dlarena.frameworks  # noqa: F401
except DlarenaError as exc:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
    raise SystemExit(2) from None

# Importing a command group registers its commands on the shared app.
from dlarena.cli import (  # noqa: E402, F401
    bench,
    compare,
    converge,
    decision,
    envs,
    evidence,
    fidelity,
    importer,
    inputs,
    migrate,
    parity,
    probe,
    report,
    scale,
    selfcheck,
)

__all__ = ["app", "main"]


def main() -> None:
    """The console script: a DlarenaError is printed without a traceback and exits 2."""
    try:
        app()
    except Interrupted as exc:
        err.print(f"[yellow]{escape(str(exc))}[/]", soft_wrap=True, highlight=False)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
    except DlarenaError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
