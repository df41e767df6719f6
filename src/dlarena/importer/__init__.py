"""`dlarena import`: a team's own model (an ONNX file) as a workload spec with its own weights,
so every framework builds it natively and the parity gate proves they compute what the
original does (host side: the `onnx` package reads the file; no framework is imported)."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dlarena.errors import ImportRefused
from dlarena.importer.graph import Graph, label, read
from dlarena.importer.mapping import Mapping
from dlarena.importer.ops import MAPPERS, NEAREST
from dlarena.importer.patterns import fuse
from dlarena.spec.schema import spec_from_dict
from dlarena.spec.weights import sha256_of

DEFAULT_BATCH = 32  # the spec's batch where the file leaves it dynamic and --batch is not given


@dataclasses.dataclass(frozen=True)
class Coverage:
    """One op type of the graph (after folding and fusing): how often, and whether it maps."""

    op: str
    count: int
    mapped: bool
    nodes: tuple[str, ...]
    nearest: str


@dataclasses.dataclass
class Imported:
    spec: dict[str, Any]  # the spec file's content, weights not yet named
    weights: dict[str, np.ndarray]
    notes: dict[str, str]  # op -> the conversion its weights went through
    graph: Graph
    source: Path


def coverage(graph: Graph) -> list[Coverage]:
    """Every op type left to map, unmapped ones first."""
    counts = Counter(node.op_type for node in graph.nodes)
    rows = [
        Coverage(
            op,
            n,
            op in MAPPERS,
            tuple(label(node) for node in graph.nodes if node.op_type == op),
            NEAREST.get(op, "none"),
        )  # fmt: skip
        for op, n in counts.items()
    ]
    return sorted(rows, key=lambda row: (row.mapped, row.op))


def unmapped_error(path: Path, rows: list[Coverage]) -> ImportRefused:
    lines = [
        f"  {row.op} x{row.count} (nodes: {', '.join(row.nodes[:4])}"
        f"{', ...' if row.count > 4 else ''}); nearest in the spec: {row.nearest}"
        for row in rows
    ]
    return ImportRefused(
        f"{path}: {len(rows)} op type(s) that dlarena cannot map yet:\n" + "\n".join(lines)
    )


def load(path: Path, batch: int | None, shape: tuple[int, ...] | None = None) -> Graph:
    """The file's graph (its dynamic sizes pinned to `batch` and `shape`), folded and fused,
    ready for `coverage` and `map_model`."""
    graph = read(path, batch, shape)
    fuse(graph)
    return graph


def map_model(
    path: Path, graph: Graph, name: str, batch: int | None, optimizer: dict[str, Any]
) -> Imported:
    """The spec and weights for the graph; ImportRefused lists every op that does not map."""
    missing = [row for row in coverage(graph) if not row.mapped]
    if missing:
        raise unmapped_error(path, missing)
    mapping = Mapping(graph)
    try:
        mapping.run(MAPPERS)
    except ImportRefused as exc:
        raise ImportRefused(f"{path}: {exc}") from None
    shape = graph.input_shape[1:]
    tokens = {"vocab_size": mapping.vocab} if graph.tokens else {}
    spec = {
        "name": name,
        **tokens,
        "input_shape": [shape[1], shape[2], shape[0]]
        if len(shape) == 3 and not mapping.nhwc
        else list(shape),
        "num_classes": int(graph.shapes[graph.output][-1]),
        "layers": mapping.layers,
        "optimizer": optimizer,
        "batch_size": batch or (graph.batch if graph.fixed else DEFAULT_BATCH),
        "source": {"file": path.name, "sha256": sha256_of(path), **_applies(graph)},
    }
    spec_from_dict(spec, f"{path} (as imported)")  # a spec dlarena cannot run: before writing
    return Imported(spec, mapping.weights, mapping.notes, graph, path)


def _applies(graph: Graph) -> dict[str, str]:
    """The source's `output`, where the file outputs more than the logits."""
    return {} if graph.applies == "logits" else {"output": graph.applies}


def write(imported: Imported, out: Path) -> Path:
    """`NAME.yaml` and `NAME.npz` in `out`; the spec names the weights by file and sha256.
    Returns the spec's path."""
    out.mkdir(parents=True, exist_ok=True)
    name = imported.spec["name"]
    weights_path = out / f"{name}.npz"
    arrays: dict[str, Any] = dict(imported.weights)
    np.savez(weights_path, **arrays)
    named = {"file": weights_path.name, "sha256": sha256_of(weights_path)}
    source = {**imported.spec["source"], "file": os.path.relpath(imported.source, out)}
    spec = {**imported.spec, "source": source, "weights": named}
    header = [
        f"# Imported by `dlarena import` from {imported.source.name}.",
        "# Conversions made on the weights (the spec's layouts are canonical: NHWC, (in, out)):",
        *(f"#   {op}: {text}" for op, text in sorted(imported.notes.items())),
    ]
    spec_path = out / f"{name}.yaml"
    body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
    spec_path.write_text("\n".join(header) + "\n" + body)
    return spec_path
