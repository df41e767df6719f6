"""import: a model file (ONNX) as a workload spec with its own weights, checked against the
original in ONNX Runtime."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dlarena.cli.common import (
    BUILTIN,
    Format,
    FormatOpt,
    app,
    emit_json,
    err,
    out,
    print_table,
    within,
)
from dlarena.errors import DlarenaError

if TYPE_CHECKING:
    from dlarena.importer import Coverage, Imported


ModelOpt = Annotated[Path, typer.Argument(help="the .onnx file (its external data beside it)")]
NameOpt = Annotated[
    str | None, typer.Option(help="the workload's name (default: from the file name)")
]
OutDirOpt = Annotated[Path, typer.Option("--out", help="folder for NAME.yaml and NAME.npz")]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        callback=within(1, 65536),
        help="the spec's batch size, and the batch a dynamic batch axis is pinned to "
        "(default: the file's fixed batch, else 32)",
    ),
]
ShapeOpt = Annotated[
    str | None,
    typer.Option(
        help="the input's sizes after the batch, where the file leaves them dynamic: "
        "3x224x224 (an image, as the file orders it), 128 (a sequence)",
    ),
]
OptimizerOpt = Annotated[
    str, typer.Option(help="sgd, adam or adamw (decay 0.01): how the frameworks train it")
]
LearningRateOpt = Annotated[float, typer.Option(callback=within(1e-9, 10))]
CheckOpt = Annotated[
    bool, typer.Option("--check", help="print what maps and what does not; write nothing")
]
TimeoutOpt = Annotated[
    float, typer.Option(callback=within(1, 86400), help="seconds ONNX Runtime may take")
]


@app.command("import")
def import_model(
    model: ModelOpt,
    name: NameOpt = None,
    out_dir: OutDirOpt = Path("."),
    batch: BatchOpt = None,
    shape: ShapeOpt = None,
    optimizer: OptimizerOpt = "sgd",
    learning_rate: LearningRateOpt = 0.01,
    check: CheckOpt = False,
    timeout: TimeoutOpt = 300.0,
    format: FormatOpt = Format.table,
) -> None:
    """Map MODEL's graph to a workload spec every framework builds natively, write its weights
    beside it (layouts converted, each conversion noted in the spec), and check the spec's
    float64 reference against ONNX Runtime running MODEL unchanged. Exit 2 lists every op that
    does not map; exit 1 if the imported model computes something else."""
    from dlarena import importer

    if optimizer not in ("sgd", "adam", "adamw"):
        raise DlarenaError(f"--optimizer {optimizer!r}: choose sgd, adam or adamw")
    graph = importer.load(model, batch, _sizes(shape))
    rows = importer.coverage(graph)
    if check:
        _show_coverage(model, rows, format)
        if any(not row.mapped for row in rows):
            raise importer.unmapped_error(model, [r for r in rows if not r.mapped])
        importer.map_model(model, graph, "check", batch or 32, {"name": optimizer})
        err.print(f"[green]every node of {model.name} maps[/]; nothing written")
        return
    workload_name = name or _name_from(model)
    if workload_name in BUILTIN:
        raise DlarenaError(
            f"'{workload_name}' is a built-in workload's name; give the import its own: --name"
        )
    optimizer_doc = {"name": optimizer, "learning_rate": learning_rate}
    if optimizer == "adamw":  # PyTorch's default decay; the spec says it, to be changed there
        optimizer_doc["weight_decay"] = 0.01
    imported = importer.map_model(model, graph, workload_name, batch, optimizer_doc)
    spec_path = importer.write(imported, out_dir)
    _finish(spec_path, imported, timeout, format)


def _sizes(shape: str | None) -> tuple[int, ...] | None:
    """--shape 3x224x224 (or 3,224,224) as sizes; a clear error for anything else."""
    if shape is None:
        return None
    parts = re.split(r"[x,]", shape.strip().lower())
    if not all(p.isdigit() and 0 < int(p) <= 1_000_000 for p in parts):
        raise DlarenaError(
            f"--shape {shape!r}: give the sizes after the batch as positive integers, e.g. "
            "3x224x224 or 128"
        )
    return tuple(int(p) for p in parts)


def _name_from(model: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model.stem).strip(".-_")[:64] or "imported"


def _show_coverage(model: Path, rows: list[Coverage], format: Format) -> None:
    if format == Format.json:
        emit_json([row.__dict__ for row in rows])
        return
    print_table(
        f"{model.name}: op coverage (after folding constants and fusing patterns)",
        ("op", "nodes", "maps", "nearest in the spec"),
        [(r.op, str(r.count), "yes" if r.mapped else "NO", "" if r.mapped else r.nearest)
         for r in rows],
    )  # fmt: skip


def _finish(spec_path: Path, imported: Imported, timeout: float, format: Format) -> None:
    """Loads the written spec as any spec is loaded (validated, weights checked) and proves it
    against the original; exit 1 if it computes something else."""
    from dlarena.importer.proof import against_original
    from dlarena.probes.host import ProbeFailed
    from dlarena.runner import envs
    from dlarena.spec.loader import load_workload

    workload = load_workload(str(spec_path))
    source = imported.source
    err.print(f"wrote {spec_path} ({len(workload.layers)} layers) and its weights")
    for op, text in sorted(imported.notes.items()):
        err.print(f"  {op}: {text}", highlight=False, soft_wrap=True)
    try:
        proof = against_original(workload, source, envs.dlarena_home(), timeout)
    except ProbeFailed as exc:
        err.print(f"[yellow]not checked against the original:[/] {exc}", soft_wrap=True)
        proof = None
    if format == Format.json:
        emit_json({"spec": str(spec_path), "proof": proof.__dict__ if proof else None})
    elif proof is not None:
        out.print(proof.line(), soft_wrap=True, highlight=False)
    if proof is not None and not proof.same:
        err.print(
            "[red]the imported spec does not compute what the original does[/]: this is a "
            "mapping dlarena got wrong; please report it with the model"
        )
        raise typer.Exit(1)
