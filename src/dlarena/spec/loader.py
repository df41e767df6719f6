"""Reading workload specs from YAML/JSON files and the built-in set (host side)."""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from pathlib import Path

from dlarena.errors import SpecError
from dlarena.spec.model import PRECISIONS, Workload
from dlarena.spec.presets import PRESETS, SIZES
from dlarena.spec.schema import parse_spec
from dlarena.validation import Document, parse_text, read_document

BUILTIN = tuple(PRESETS)


def load_workload(name_or_path: str, size: str = "small") -> Workload:
    """A built-in workload by name at a size preset, or a spec file (YAML or JSON) by path."""
    if size not in SIZES:
        raise SpecError(f"size '{size}' is unknown; choose {', '.join(SIZES)}")
    if name_or_path in BUILTIN:
        origin = f"{name_or_path} ({size})"
        if size in PRESETS[name_or_path]:
            return parse_spec(Document(PRESETS[name_or_path][size](), origin, {}))
        text = resources.files("dlarena.spec").joinpath(f"workloads/{name_or_path}.yaml")
        return parse_spec(parse_text(text.read_text(), origin))
    if size != "small":
        raise SpecError(
            f"--size {size} applies to the built-in workloads ({', '.join(BUILTIN)}); "
            f"'{name_or_path}' is a spec file: its sizes are written in it"
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise SpecError(
            f"workload '{name_or_path}' is neither built in ({', '.join(BUILTIN)}) "
            "nor an existing spec file; give one of those names or a path to a YAML/JSON file"
        )
    return with_files(parse_spec(read_document(path, "workload spec")), path.parent)


def with_files(workload: Workload, folder: Path) -> Workload:
    """The spec's files resolved against its folder and checked now, before any worker
    starts: the weights (sha256 and arrays), and the original model where it is still there
    (it must be the one imported from; where it is gone, nothing is checked against it)."""
    if workload.weights is None:
        return workload
    from dlarena.spec.weights import imported_weights, sha256_of

    weights = dataclasses.replace(
        workload.weights, file=str((folder / workload.weights.file).resolve())
    )
    workload = dataclasses.replace(workload, weights=weights)
    imported_weights(workload)
    source = workload.source
    if source is not None and (folder / source.file).is_file():
        path = (folder / source.file).resolve()
        if sha256_of(path) != source.sha256:
            raise SpecError(
                f"workload '{workload.name}': the original model {path} is not the file its "
                "weights were imported from (sha256 differs); import it again"
            )
        workload = dataclasses.replace(workload, source=dataclasses.replace(source, file=str(path)))
    return workload


@functools.cache
def _builtin_hashes() -> dict[str, str]:
    loaded = [(load_workload(name, size), size) for name in BUILTIN for size in SIZES]
    return {w.at_precision(p).content_hash: size for w, size in loaded for p in PRECISIONS}


def size_of(spec_hash: str | None) -> str | None:
    """The size preset a stored cell's spec is (tiny, small, full), or None for a spec file."""
    return _builtin_hashes().get(spec_hash or "")


def workload_label(workload: str, spec_hash: str | None) -> str:
    """'cnn (small)' for a built-in at a size preset, the spec's name otherwise."""
    size = size_of(spec_hash)
    return f"{workload} ({size})" if size else workload
