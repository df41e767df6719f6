"""selfcheck: is dlarena's harness as fast as a hand-written loop?"""

from __future__ import annotations

from typing import Annotated

import typer

from dlarena.cli.common import Format, FormatOpt, app, emit_json, err, print_table
from dlarena.frameworks import TIERS, having
from dlarena.runner import envs


@app.command()
def selfcheck(
    runtime: Annotated[list[str], typer.Option(help="frameworks to check")] = list(
        having("selfcheck")
    ),
    tier: Annotated[list[str], typer.Option(help="eager and/or compiled")] = list(TIERS),
    rounds: Annotated[
        int, typer.Option(min=1, help="pairs of processes (dlarena's worker and the loop)")
    ] = 3,
    blocks: Annotated[
        int, typer.Option(min=2, help="turns per pair: one timed block each, in turn")
    ] = 10,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU budget")] = None,
    format: FormatOpt = Format.table,
) -> None:
    """Train the mlp with dlarena and with a hand-written loop per framework and tier, in the
    same session and CPUs, the two live side by side and taking turns; overhead_ratio =
    hand-written / dlarena throughput, the median of the per-turn ratios (1.0: none)."""
    from dlarena.errors import DlarenaError
    from dlarena.runner.threads import all_cpus, fair
    from dlarena.selfcheck.run import LOOPS, Selfcheck

    for values, known, kind in ((runtime, LOOPS, "runtime"), (tier, TIERS, "tier")):
        unknown = [v for v in values if v not in known]
        if unknown:
            raise DlarenaError(
                f"selfcheck has no {kind} '{unknown[0]}'; choose from {', '.join(known)}"
            )
    threading = fair(threads or all_cpus())
    with err.status("selfcheck") as status:
        check = Selfcheck(envs.dlarena_home(), threading, rounds, blocks, on_progress=status.update)
        rows = check.run(runtime, tier)
    if format == Format.json:
        emit_json([r.as_dict() for r in rows])
        return
    print_table(
        f"selfcheck: mlp training, {threading.label}, hand-written / dlarena",
        ("runtime", "tier", "dlarena samples/s", "hand samples/s", "overhead_ratio", "95% CI", "p"),
        (r.table_row() for r in rows),
        caption=(
            "overhead_ratio above 1: the hand-written loop is faster than dlarena's harness; "
            "the CI is over the turns the two took, pair by pair of processes"
        ),
    )
