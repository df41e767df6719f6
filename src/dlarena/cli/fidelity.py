"""fidelity: are dlarena's built-in models the published architectures?"""

from __future__ import annotations

from typing import Annotated

import typer

from dlarena.cli.common import Format, FormatOpt, app, emit_json, err, print_table
from dlarena.report.rows import fmt
from dlarena.runner import envs


@app.command()
def fidelity(
    rounds: Annotated[int, typer.Option(min=1, max=100, help="alternating timing rounds")] = 10,
    steps: Annotated[int, typer.Option(min=1, max=100, help="training steps per round")] = 3,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU budget")] = None,
    format: FormatOpt = Format.table,
) -> None:
    """Compare the spec-built ResNet-50, BERT and GPT-2 with the frameworks' own
    implementations (keras.applications, Hugging Face transformers): parameter counts at the
    published size, training step time at a CPU-sized shape under one identical loop."""
    from dlarena.fidelity.run import TOLERANCE, run
    from dlarena.runner.threads import all_cpus

    with err.status("fidelity") as status:
        rows = run(envs.dlarena_home(), threads or all_cpus(), rounds, steps, status.update)
    if format == Format.json:
        emit_json([row.as_dict() for row in rows])
        return
    print_table(
        "fidelity: dlarena's spec-built models against reference implementations",
        (
            "workload",
            "reference",
            "status",
            "parameters (ref / dlarena)",
            "match",
            "timed at",
            "step s (ref / dlarena)",
            "dlarena / ref",
        ),
        (
            [
                d["workload"],
                d["implementation"],
                d["status"]
                if d["status"] == "ok"
                else f"{d['status']}: {(d['error'] or '')[:160]}",
                f"{fmt(d['parameters_full'].get('reference_parameters'))} / "
                f"{fmt(d['parameters_full'].get('dlarena_parameters'))}",
                fmt(d["parameters_match"]),
                fmt(d["timed_shape"]),
                f"{fmt(d['reference_step_s'])} / {fmt(d['dlarena_step_s'])}",
                fmt(d["step_ratio"]),
            ]
            for d in (row.as_dict() for row in rows)
        ),  # fmt: skip
        caption=f"match: the counts differ by exactly what the designs differ in (--format json "
        f"says what); step times should agree within {TOLERANCE:.0%}",
    )
