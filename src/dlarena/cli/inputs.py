"""spec and profile: check a file before a run, and print the JSON Schema files follow."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from dlarena.cli.common import Format, FormatOpt, app, emit_json, out

spec_app = typer.Typer(help="Workload spec files: validate, schema.", no_args_is_help=True)
profile_app = typer.Typer(help="Profile files: validate, schema.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
app.add_typer(profile_app, name="profile")

FileArg = Annotated[Path, typer.Argument(help="the YAML or JSON file")]


def _say(format: Format, document: dict[str, Any], line: str) -> None:
    """A valid file: its summary as one JSON document, or one line."""
    if format == Format.json:
        emit_json(document)
    else:
        out.print(line, soft_wrap=True)


@spec_app.command("validate")
def spec_validate(file: FileArg, format: FormatOpt = Format.table) -> None:
    """Exit 0 with a one-line summary if FILE is a valid spec; exit 2 naming the problem."""
    from dlarena.spec.flops import step_flops
    from dlarena.spec.loader import load_workload
    from dlarena.spec.model import parameter_shapes

    workload = load_workload(str(file))
    parameters = sum(math.prod(s) for s in parameter_shapes(workload).values())
    summary = {
        "file": str(file),
        "name": workload.name,
        "content_hash": workload.content_hash,
        "layers": len(workload.layers),
        "parameters": parameters,
        "batch_size": workload.batch_size,
        "train_gflop_per_step": round(step_flops(workload, "train") / 1e9, 4),
    }
    _say(
        format,
        summary,
        f"{file}: valid workload '{workload.name}' ({summary['layers']} layers, "
        f"{parameters:,} parameters, batch {workload.batch_size}, "
        f"content hash {workload.content_hash})",
    )


@spec_app.command("schema")
def spec_schema() -> None:
    """The JSON Schema of a workload spec file."""
    from dlarena.spec.schema import SpecDoc

    emit_json(SpecDoc.model_json_schema())


@profile_app.command("validate")
def profile_validate(file: FileArg, format: FormatOpt = Format.table) -> None:
    """Exit 0 with a one-line summary if FILE is a valid profile; exit 2 naming the problem."""
    from dlarena.decide.profile import load_profile

    profile = load_profile(file)
    weights = ", ".join(f"{c} {w:g}" for c, w in profile.weights)
    _say(
        format,
        {"file": str(file), **profile.as_dict()},
        f"{file}: valid profile '{profile.name}' (weights {weights}; "
        f"{len(profile.requirements)} requirements, {len(profile.answers)} answers, "
        f"tiers {', '.join(profile.tiers)})",
    )


@profile_app.command("schema")
def profile_schema() -> None:
    """The JSON Schema of a profile file."""
    from dlarena.decide.profile import ProfileDoc

    emit_json(ProfileDoc.model_json_schema())
