"""The mapping table (mapping.yaml, data): each concept's API in every framework, what differs,
and what to do where a framework has none."""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import Any

import yaml

FRAMEWORKS = ("torch", "tensorflow", "jax", "mxnet")
MODEL_BASES = "model base class"


@dataclasses.dataclass(frozen=True)
class Concept:
    concept: str
    category: str
    apis: dict[str, tuple[str, ...]]
    note: str = ""
    missing: str = ""  # what to do in a framework that has no equivalent


@dataclasses.dataclass(frozen=True)
class Method:
    category: str
    frameworks: tuple[str, ...]
    concept: str | None = None


@dataclasses.dataclass(frozen=True)
class Mapping:
    concepts: dict[str, Concept]
    by_api: dict[str, str]  # dotted API -> its concept
    methods: dict[str, Method]
    prefixes: dict[
        str, tuple[tuple[str, str], ...]
    ]  # framework -> (prefix, category), longest first

    def classify(self, api: str, framework: str) -> tuple[str | None, str]:
        """(concept, category) of an API: the table's concept, else the category of its longest
        matching prefix, else a framework-specific utility."""
        if api in self.by_api:
            concept = self.concepts[self.by_api[api]]
            return concept.concept, concept.category
        for prefix, category in self.prefixes.get(framework, ()):
            if api == prefix or api.startswith(prefix + "."):
                return None, category
        return None, "utility"

    def is_model_base(self, api: str) -> bool:
        return self.by_api.get(api) == MODEL_BASES

    def target(self, concept: str | None, to: str) -> tuple[str, str]:
        """How a concept moves to framework `to`: ('direct' | 'note' | 'none' | 'unknown', the
        equivalent, the note or what to do instead)."""
        if concept is None:
            return "unknown", "not in the mapping table: look it up by hand"
        found = self.concepts[concept]
        equivalents = found.apis.get(to, ())
        if not equivalents:
            return "none", found.missing or f"no equivalent in {to}"
        if found.note:
            return "note", f"{equivalents[0]} ({found.note})"
        return "direct", equivalents[0]


@functools.cache
def load() -> Mapping:
    text = resources.files("dlarena.migrate").joinpath("mapping.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    concepts = {
        c["concept"]: Concept(
            c["concept"],
            c["category"],
            {f: tuple(c.get(f, ())) for f in FRAMEWORKS},
            c.get("note", ""),
            c.get("missing", ""),
        )  # fmt: skip
        for c in data["concepts"] + data.get("extra_concepts", [])
    }
    by_api: dict[str, str] = {}
    for concept in concepts.values():
        for apis in concept.apis.values():
            for api in apis:
                by_api.setdefault(api, concept.concept)
    methods = {
        name: Method(m["category"], tuple(m["frameworks"]), m.get("concept"))
        for name, m in data["methods"].items()
    }
    prefixes = {
        framework: tuple(sorted(((p, c) for p, c in rules), key=lambda r: -len(r[0])))
        for framework, rules in data["categories"].items()
    }
    return Mapping(concepts, by_api, methods, prefixes)


MAPPING = load()
