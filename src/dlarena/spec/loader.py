"""Reading workload specs from YAML/JSON files and the built-in set (host side)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from dlarena.errors import SpecError
from dlarena.spec.model import Workload

BUILTIN = ("mlp", "cnn")


def load_workload(name_or_path: str) -> Workload:
    """A built-in workload by name, or a spec file (YAML or JSON) by path."""
    if name_or_path in BUILTIN:
        text = resources.files("dlarena.spec").joinpath(f"workloads/{name_or_path}.yaml")
        return _parse(text.read_text(), name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise SpecError(
            f"workload '{name_or_path}' is neither built in ({', '.join(BUILTIN)}) "
            "nor an existing spec file; give one of those names or a path to a YAML/JSON file"
        )
    return _parse(path.read_text(), str(path))


def _parse(text: str, origin: str) -> Workload:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{origin}: not valid YAML/JSON ({exc}); fix the syntax") from exc
    try:
        return Workload.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{origin}: {exc}") from exc
