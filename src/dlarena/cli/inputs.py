"""spec and profile: check a file before a run, and print the JSON Schema files follow."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlarena.cli.common import (
    WORKLOAD_HELP,
    Format,
    FormatOpt,
    SizeOpt,
    app,
    emit_json,
    out,
    print_table,
    sub_app,
)
from dlarena.report.rows import fmt

if TYPE_CHECKING:
    from dlarena.spec.model import Workload

spec_app = sub_app("Workload specs: show, validate, schema.")
profile_app = sub_app("Profile files: validate, schema.")
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
    from dlarena.spec.shapes import is_trainable, parameter_shapes

    workload = load_workload(str(file))
    # trainable parameters, as `spec show` and published counts have them (no batch-norm state)
    parameters = sum(math.prod(s) for k, s in parameter_shapes(workload).items() if is_trainable(k))
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


@spec_app.command("show")
def spec_show(
    workload: Annotated[str, typer.Argument(help=WORKLOAD_HELP)],
    size: SizeOpt = "small",
    format: FormatOpt = Format.table,
) -> None:
    """The layers with their output shapes, parameters and FLOPs; totals per step and an
    activation memory estimate."""
    from dlarena.spec.flops import forward_flops, step_flops
    from dlarena.spec.loader import load_workload
    from dlarena.spec.shapes import infer_shapes

    spec = load_workload(workload, size)
    shapes, flops = infer_shapes(spec), forward_flops(spec)
    owned = _trainable_per_layer(spec)
    layers = [
        {
            "name": layer.name,
            "op": layer.op,
            "inputs": list(layer.inputs),
            "output_shape": list(shapes[layer.name]),
            "parameters": owned.get(layer.name, 0),
            "forward_flops_per_sample": flops[layer.name],
        }
        for layer in spec.layers
    ]
    activations = _activation_elements(spec, shapes)
    train, infer = step_flops(spec, "train"), step_flops(spec, "infer")
    summary: dict[str, Any] = {
        "name": spec.name,
        "size": size,
        "content_hash": spec.content_hash,
        "input_shape": list(spec.input_shape),
        "vocab_size": spec.vocab_size or None,
        "batch_size": spec.batch_size,
        "parameters": sum(owned.values()),
        "train_flops_per_step": train,
        "infer_flops_per_step": infer,
        # float32 outputs of every layer for one batch: what a training step keeps for backward
        "activation_mb": round(activations * spec.batch_size * 4 / 2**20, 1),
    }
    if format == Format.json:
        emit_json({**summary, "layers": layers})
        return
    columns = ("name", "op", "inputs", "output_shape", "parameters", "forward_flops_per_sample")
    print_table(
        f"{spec.name} ({size}): {summary['parameters']:,} parameters, batch {spec.batch_size}",
        columns,
        ([fmt(row[c]) if c != "parameters" else f"{row[c]:,}" for c in columns] for row in layers),
        caption=f"per step: training {train / 1e9:,.3f} GFLOP, "
        f"inference {infer / 1e9:,.3f} GFLOP; activations about "
        f"{summary['activation_mb']:,} MB (float32, one batch)",
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


def _trainable_per_layer(spec: Workload) -> dict[str, int]:
    """Each layer's trainable parameters, as published counts have them."""
    from dlarena.spec.shapes import is_trainable, parameter_shapes

    owned: dict[str, int] = {}
    for key, shape in parameter_shapes(spec).items():
        if is_trainable(key):
            layer = key.rsplit(".", 1)[0]
            owned[layer] = owned.get(layer, 0) + math.prod(shape)
    return owned


def _activation_elements(spec: Workload, shapes: dict[str, tuple[int, ...]]) -> int:
    """Every layer's output elements per sample; attention also keeps its weights (heads x
    query x key)."""
    outputs = sum(math.prod(shapes[layer.name]) for layer in spec.layers)
    return outputs + sum(
        layer.attr("heads") * shapes[layer.name][0] ** 2
        for layer in spec.layers
        if layer.op == "attention"
    )
