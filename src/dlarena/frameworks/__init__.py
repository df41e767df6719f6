"""The one registry of frameworks dlarena knows; every other part derives its lists from here.

A framework is a folder, frameworks/<name>/, whose __init__.py declares a `Framework`
(descriptor.py: its runtimes, export paths, scale-out scenarios and parts) beside the code of
those parts; adding one is that folder plus its line in FOLDERS (or, for a folder outside
dlarena, its package in DLARENA_FRAMEWORKS). Host-safe: the declarations name modules and import
no framework.
"""

from __future__ import annotations

import dataclasses
import importlib
import os

from dlarena.errors import DlarenaError
from dlarena.frameworks.descriptor import (
    MODES,
    TIERS,
    Export,
    Framework,
    OverrideRow,
    Runtime,
    Scenario,
)

__all__ = ["MODES", "TIERS", "Export", "Framework", "Runtime", "Scenario"]

FOLDERS = ("torch", "tensorflow", "jax", "mxnet", "onnxruntime")  # one line per framework
# More framework folders, anywhere on the Python path: packages named in this variable
# (comma-separated), each declaring FRAMEWORK as the built-in folders do.
EXTRA = "DLARENA_FRAMEWORKS"


def _declared(package: str) -> Framework:
    try:
        found = importlib.import_module(package).FRAMEWORK
    except (ImportError, AttributeError) as exc:
        raise DlarenaError(
            f"{EXTRA} names '{package}', which is not a framework folder ({exc}); fix the name "
            "or PYTHONPATH, or unset it"
        ) from None
    return dataclasses.replace(found, package=package)


def _registry() -> dict[str, Framework]:
    packages = [f"dlarena.frameworks.{name}" for name in FOLDERS]
    packages += [p.strip() for p in os.environ.get(EXTRA, "").split(",") if p.strip()]
    declared: dict[str, Framework] = {}
    for framework in map(_declared, packages):
        if framework.name in declared:
            raise DlarenaError(f"two framework folders are named '{framework.name}' ({EXTRA})")
        declared[framework.name] = framework
    return declared


DECLARED: dict[str, Framework] = _registry()
RUNTIMES: dict[str, Runtime] = {r.name: r for f in DECLARED.values() for r in f.runtimes}

# What `bench` runs unless told: every runtime but the API variants.
DEFAULT_RUNTIMES: tuple[str, ...] = tuple(n for n, r in RUNTIMES.items() if r.variant_of is None)
# The frameworks the decision compares (ONNX Runtime is measured, never recommended).
FRAMEWORKS: tuple[str, ...] = tuple(name for name, r in RUNTIMES.items() if r.compared)


def having(part: str) -> tuple[str, ...]:
    """The frameworks whose folder has `part`: 'mistakes', 'selfcheck', 'exports' or 'scale'."""
    return tuple(name for name, f in DECLARED.items() if getattr(f, part))


def export_paths() -> dict[str, tuple[str, ...]]:
    """framework -> its export paths, in the order they are tried."""
    return {name: tuple(e.path for e in DECLARED[name].exports) for name in having("exports")}


def export_envs() -> dict[tuple[str, str], str]:
    """(framework, path) -> the on-demand environment of an exporter that needs its own."""
    return {(f.name, e.path): e.env for f in DECLARED.values() for e in f.exports if e.env}


def overrides() -> list[OverrideRow]:
    """Per framework of the decision, each default of its own that differs from the spec and
    what its adapter does about it (the report's list)."""
    return [
        OverrideRow(RUNTIMES[name].display, o.setting, o.default, o.dlarena)
        for name in FRAMEWORKS
        if name in DECLARED
        for o in DECLARED[name].overrides
    ]


def scenarios() -> dict[str, Scenario]:
    """Every data-parallel scenario by name (a framework may have several)."""
    return {s.name: s for f in DECLARED.values() for s in f.scale}


def part(framework: str, name: str) -> str:
    """The module of one part of a framework's folder (for `python -m` or importlib)."""
    return DECLARED[framework].part(name)
