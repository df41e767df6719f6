"""Reading workload specs from YAML/JSON files and the built-in set (host side)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dlarena.errors import SpecError
from dlarena.spec.model import Workload
from dlarena.spec.schema import parse_spec
from dlarena.validation import parse_text, read_document

BUILTIN = ("mlp", "cnn")


def load_workload(name_or_path: str) -> Workload:
    """A built-in workload by name, or a spec file (YAML or JSON) by path."""
    if name_or_path in BUILTIN:
        text = resources.files("dlarena.spec").joinpath(f"workloads/{name_or_path}.yaml")
        return parse_spec(parse_text(text.read_text(), name_or_path))
    path = Path(name_or_path)
    if not path.is_file():
        raise SpecError(
            f"workload '{name_or_path}' is neither built in ({', '.join(BUILTIN)}) "
            "nor an existing spec file; give one of those names or a path to a YAML/JSON file"
        )
    return parse_spec(read_document(path, "workload spec"))
