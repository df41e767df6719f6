"""The framework versions a codebase pins: requirement files and pyproject.toml dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

from dlarena.migrate.records import Pin
from dlarena.migrate.scan import ROOTS, SKIP

# distribution names of the frameworks' packages (pip spells them with dashes)
PACKAGES = {name.replace("_", "-") for name in ROOTS} | {
    "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "jaxlib", "mxnet-mkl",
    "mxnet-cu112", "mxnet-cu117", "onnxruntime",
}  # fmt: skip
OPERATORS = ("==", ">=", "<=", "~=", "!=", "<", ">")


def requirement(line: str) -> tuple[str, str] | None:
    """(package, specifier) of a requirement line naming a framework package with a version."""
    text = line.split("#", 1)[0].split(";", 1)[0].strip()
    cut = min((text.find(op) for op in OPERATORS if op in text), default=-1)
    if cut <= 0:
        return None
    name = text[:cut].split("[", 1)[0].strip().lower().replace("_", "-")
    return (name, text[cut:].replace(" ", "")) if name in PACKAGES else None


def pins(root: Path) -> list[Pin]:
    """Every framework version pinned under `root`: file, package, specifier."""
    if root.is_file():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        if SKIP & set(path.relative_to(root).parts) or not path.is_file():
            continue
        lines: list[str] = []
        if path.suffix == ".txt" and path.name.startswith(("requirements", "constraints")):
            lines = path.read_text(errors="replace").splitlines()
        elif path.name == "pyproject.toml":
            try:
                project = tomllib.loads(path.read_text(errors="replace")).get("project", {})
            except tomllib.TOMLDecodeError:
                continue
            lines = list(project.get("dependencies", []))
            lines += [d for ds in project.get("optional-dependencies", {}).values() for d in ds]
        for line in lines:
            if (pinned := requirement(line)) is not None:
                found.append(Pin(str(path.relative_to(root)), pinned[0], pinned[1]))
    return found
