"""User-given names that become parts of paths (workloads, environments): the standard library
only, so environments can be made before dlarena's own dependencies are installed."""

from __future__ import annotations

import re
from pathlib import Path

from dlarena.errors import DlarenaError

SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # workloads, environments: file-name safe


def check_name(value: str, what: str) -> str:
    """A user-given name that becomes part of a path: file-name safe, never '.' or '..'."""
    if not re.fullmatch(SAFE_NAME, value):
        raise DlarenaError(
            f"{what} {value!r} is not a safe name; use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def inside(folder: Path, name: str, what: str) -> Path:
    """`folder/name`, refused unless it resolves inside `folder`."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise DlarenaError(f"{what} {name!r} would point outside {folder}; give a plain name")
    return path
