"""One validation layer for what users write: spec and profile files, and names.

Files are read by one safe reader (a size limit, UTF-8 only, YAML without aliases or tags
beyond the safe ones, line numbers kept); their contents are checked by pydantic v2 models
(strict types, ranges, finite numbers, known names, no unknown fields). pydantic because its
models are plain typed classes, its errors carry the exact location of each problem, and the
same models publish a JSON Schema. Every problem becomes one DlarenaError that names the file,
the line, the field, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from dlarena.errors import DlarenaError
from dlarena.names import SAFE_NAME

MAX_FILE_BYTES = 1 << 20  # a spec or profile is a few kilobytes; this stops a runaway file
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"  # layer names: every framework accepts these

Name = Annotated[str, StringConstraints(pattern=SAFE_NAME)]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]

M = TypeVar("M", bound=BaseModel)


class UnknownField(ValueError):
    def __init__(self, key: Any, allowed: Any):
        super().__init__(f"unknown field {key!r}; allowed: {', '.join(allowed)}")
        self.key = key


class Strict(BaseModel):
    """A user document: strict types, no unknown fields (named with what is allowed)."""

    model_config = ConfigDict(strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in cls.model_fields]
            if unknown:
                raise UnknownField(unknown[0], cls.model_fields)
        return data


@dataclasses.dataclass(frozen=True)
class Document:
    """Parsed YAML/JSON and the line of each mapping key and list item (1-based)."""

    data: Any
    origin: str
    lines: dict[tuple[str | int, ...], int]

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        """The line of the longest prefix of `loc` that the parser saw."""
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


MAX_DEPTH = 64  # nesting a dlarena file never needs; deeper is refused before it is built
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _refuse_aliases_and_depth(text: str) -> None:
    """One pass over libyaml's events before anything is built: an alias bomb of a few hundred
    bytes costs gigabytes, and a deeply nested file would exhaust the stack."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed; write the value out",
                event.start_mark,  # type: ignore[arg-type]  # libyaml's Mark: the same fields
            )  # fmt: skip
        depth += isinstance(event, _OPENS) - isinstance(event, _CLOSES)
        if depth > MAX_DEPTH:
            raise RecursionError


def read_document(path: Path, what: str) -> Document:
    """A spec or profile file: bounded, UTF-8, safe YAML (JSON is YAML)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DlarenaError(f"{path}: {size} bytes; a {what} is at most {MAX_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise DlarenaError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DlarenaError(
            f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); "
            f"save the {what} as UTF-8"
        ) from None
    return parse_text(text, str(path))


def parse_text(text: str, origin: str) -> Document:
    loader = None
    try:
        _refuse_aliases_and_depth(text)  # libyaml checks the characters as it reads
        loader = yaml.CSafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}: line {mark.line + 1}" if mark is not None else origin
        if isinstance(exc, yaml.reader.ReaderError):
            raise DlarenaError(f"{origin}: {exc.reason} (character #{exc.character:x})") from None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DlarenaError(f"{where}: not valid YAML/JSON ({problem}); fix the syntax") from None
    except RecursionError:
        raise DlarenaError(f"{origin}: nested too deeply to be a dlarena file") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple[str | int, ...], int] = {}
    _index(node, (), lines)
    return Document(data, origin, lines)


def _index(node: Any, path: tuple[str | int, ...], lines: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            _index(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines[(*path, i)] = value.start_mark.line + 1
            _index(value, (*path, i), lines)


def validate(
    model: type[M], doc: Document, what: str, error: type[DlarenaError] = DlarenaError
) -> M:
    """The document as `model`, or one error naming every problem (up to five)."""
    if doc.data is None:
        raise error(f"{doc.origin}: empty; a {what} is a mapping of fields")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems = [_problem(e, doc) for e in exc.errors()]
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        shown = "\n  ".join(problems[:5])
        raise error(f"{doc.origin}: not a valid {what}:\n  {shown}{more}") from None


def _problem(error: Any, doc: Document) -> str:
    loc, context = tuple(p for p in error["loc"] if p != "[key]"), error.get("ctx", {})
    loc = _data_path(loc, doc.data)
    if isinstance(context.get("error"), UnknownField):
        loc = (*loc, str(context["error"].key))
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, context.get("discriminator", "").strip("'"))
    line = doc.line(loc)
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind in ("missing", "union_tag_not_found"):
        message = "missing; add it"
    elif kind == "union_tag_invalid":
        allowed = context.get("expected_tags", "").replace("'", "")
        message = f"{context['tag']!r} is not supported; allowed: {allowed}"
    elif kind != "value_error":
        message += f" (got {_short(error['input'])})"
    at = f"line {line}: " if line else ""
    return f"{at}{field or 'document'}: {message}"


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """`loc` without the tags pydantic adds for a tagged union (layers[0].dense.units ->
    layers[0].units): only the steps that exist in the document are kept."""
    path = []
    for step in loc:
        if (
            isinstance(data, dict)
            and step in data
            or isinstance(data, list)
            and isinstance(step, int)
            and 0 <= step < len(data)
        ):
            data = data[step]
        elif isinstance(data, dict) and step in data.values():
            continue  # the tag: the value of the discriminating field
        else:
            data = None
        path.append(step)
    return tuple(path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
