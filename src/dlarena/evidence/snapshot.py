"""The dated, cited snapshot shipped with dlarena, and its schema.

Format history (format_version):
  1 - sources (id -> title, where, published) and figures (framework, metric, value, as_of,
      source id, optional qualifier: '>=', '<', '~').
"""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources
from typing import Any

from dlarena.errors import DlarenaError
from dlarena.frameworks import FRAMEWORKS

FORMAT_VERSION = 1
QUALIFIERS = (">=", "<", "~")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


@dataclasses.dataclass(frozen=True)
class Figure:
    """One sourced, dated value."""

    framework: str
    metric: str
    value: Any
    as_of: str  # YYYY-MM or YYYY-MM-DD
    source: str  # a source id in the snapshot, or 'github', 'pypi', 'pypistats', 'git:<path>'
    qualifier: str | None = None

    def shown(self) -> str:
        value = (
            f"{self.value:,}"
            if isinstance(self.value, int) and not isinstance(self.value, bool)
            else str(self.value)
        )
        return f"{self.qualifier or ''}{value}"


def validate(doc: Any) -> tuple[dict[str, dict[str, str]], tuple[Figure, ...]]:
    """Check a snapshot document; every figure must name a known source and a date."""
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise DlarenaError(f"snapshot: format_version must be {FORMAT_VERSION}")
    sources = doc.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise DlarenaError("snapshot: 'sources' must map source ids to their descriptions")
    for sid, source in sources.items():
        missing = {"title", "where", "published"} - set(source)
        if missing:
            raise DlarenaError(f"snapshot: source '{sid}' lacks {', '.join(sorted(missing))}")
    figures = tuple(_figure(i, row, sources) for i, row in enumerate(doc.get("figures", [])))
    return sources, figures


def _figure(index: int, row: Any, sources: dict[str, Any]) -> Figure:
    where = f"snapshot: figures[{index}]"
    fields = {f.name for f in dataclasses.fields(Figure)}
    if not isinstance(row, dict) or not {"framework", "metric", "value", "as_of", "source"} <= set(
        row
    ):
        raise DlarenaError(f"{where}: needs framework, metric, value, as_of and source")
    if set(row) - fields:
        raise DlarenaError(f"{where}: unknown field '{sorted(set(row) - fields)[0]}'")
    if row["framework"] not in FRAMEWORKS:
        raise DlarenaError(f"{where}: framework '{row['framework']}' not in {FRAMEWORKS}")
    if not isinstance(row["as_of"], str) or not _DATE.match(row["as_of"]):
        raise DlarenaError(f"{where}: as_of {row['as_of']!r} is not YYYY-MM or YYYY-MM-DD")
    if row["source"] not in sources:
        raise DlarenaError(f"{where}: source '{row['source']}' is not in 'sources'")
    if row.get("qualifier") not in (None, *QUALIFIERS):
        raise DlarenaError(f"{where}: qualifier {row['qualifier']!r} not in {QUALIFIERS}")
    return Figure(**row)


def load_snapshot() -> tuple[dict[str, dict[str, str]], tuple[Figure, ...]]:
    text = resources.files("dlarena.evidence").joinpath("snapshot.json").read_text()
    return validate(json.loads(text))
