"""Records to JSON-ready data and back: each record carries its version, a newer one is refused.

Standard library only (the worker imports it).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from dlarena.errors import DlarenaError

R = TypeVar("R")


def encode(record: Any) -> Any:
    """A record (or a tuple of them) as JSON-ready data, each record with its version."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        fields = {f.name: encode(getattr(record, f.name)) for f in dataclasses.fields(record)}
        return {"version": type(record).VERSION, **fields}  # type: ignore[attr-defined]
    if isinstance(record, tuple | list):
        return [encode(item) for item in record]
    return record


def decode(cls: type[R], data: Any) -> R:
    """The record of type `cls` from `encode`'s output; unknown keys from later minor additions
    are ignored, missing ones take their defaults, a newer version is refused. A record class
    with an `upgrade` static method has it rewrite what an older dlarena stored first."""
    if not isinstance(data, dict):
        raise DlarenaError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    upgrade = getattr(cls, "upgrade", None)
    if upgrade is not None:
        data = upgrade(data)
    version = data.get("version", 1)
    if version > cls.VERSION:  # type: ignore[attr-defined]
        raise DlarenaError(
            f"{cls.__name__} version {version} is newer than this dlarena understands "
            f"({cls.VERSION}); upgrade dlarena"  # type: ignore[attr-defined]
        )
    hints = typing.get_type_hints(cls)
    values = {
        f.name: _value(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**values)


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value(inner, value)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], v) for v in value)
        return tuple(_value(a, v) for a, v in zip(args, value, strict=True))
    if dataclasses.is_dataclass(hint):
        return decode(hint, value)  # type: ignore[arg-type]
    if hint is float:
        return float(value)
    return value
