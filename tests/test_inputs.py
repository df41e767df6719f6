"""Everything a user writes goes through one validation layer: fuzzed specs and profiles end
as a valid record or as the one user error type, never as a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlarena.decide.profile import ProfileDoc, load_profile, parse_profile
from dlarena.errors import DlarenaError
from dlarena.spec.loader import load_workload
from dlarena.spec.model import Workload
from dlarena.spec.schema import SpecDoc, parse_spec, spec_from_dict
from dlarena.validation import parse_text, read_document

from .conftest import SPECS

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [load_workload(n).to_dict() for n in ("mlp", "cnn", str(SPECS / "kitchen.yaml"))]
PROFILES = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 10**9, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../../x", "/tmp/x", "..", ".", "fc1", "input", "relu", "jit", "yes"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a document a mutation can touch."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths(value, (*prefix, i))
    return found


@st.composite
def mutants(draw: Any, seeds: list[dict]) -> Any:
    data = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(data)))
        if not where:
            return draw(values) if draw(st.booleans()) else data
        parent = data
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[where[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=6), st.integers()))] = draw(values)
        else:
            parent[where[-1]] = draw(values)
    return data


def outcome(parse: Any) -> str:
    """'accepted' or 'user error'; anything else escapes and fails the test."""
    try:
        parse()
    except DlarenaError:
        return "user error"
    return "accepted"


def dump(data: Any) -> str:
    """YAML as a user writes it, through libyaml (the pure-Python emitter is 10x slower)."""
    return yaml.dump(data, Dumper=yaml.CSafeDumper)


FUZZ = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.slow  # thousands of examples
@FUZZ
@given(mutants(SEEDS))
def test_fuzzed_specs_are_a_workload_or_a_user_error(data: Any) -> None:
    if outcome(lambda: spec_from_dict(data)) == "accepted":
        workload = spec_from_dict(data)
        assert Workload.from_dict(workload.to_dict()) == workload
        assert spec_from_dict(workload.to_dict()) == workload
    outcome(lambda: parse_spec(parse_text(dump(data), "fuzz.yaml")))


@pytest.mark.slow  # thousands of examples
@FUZZ
@given(mutants(PROFILES))
def test_fuzzed_profiles_are_a_profile_or_a_user_error(data: Any) -> None:
    outcome(lambda: parse_profile(parse_text(dump(data), "fuzz.yaml")))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_bytes_are_read_or_refused_by_name(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    path.write_bytes(raw)
    outcome(lambda: parse_spec(read_document(path, "workload spec")))
    outcome(lambda: load_profile(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x [1]\nb: *x\n", "line 2: not valid YAML/JSON \\(aliases"),
        ("name: [\n", "not valid YAML/JSON"),
        ("[" * 5000, "nested too deeply|not valid YAML"),
        ("", "empty; a workload spec is a mapping of fields"),
    ],
)
def test_unsafe_or_broken_yaml_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(DlarenaError, match=message):
        parse_spec(parse_text(text, "bad.yaml"))


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb + "name: *j\n")  # 3^9 * 9 strings if expanded
    with pytest.raises(DlarenaError, match="aliases"):
        load_workload(str(path))


def test_non_utf8_and_oversized_files_are_refused_by_name(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(DlarenaError, match="not UTF-8 text \\(byte 9 is 0xe9\\)"):
        load_workload(str(latin))
    big = tmp_path / "big.yaml"
    big.write_text("#" * (2 << 20))
    with pytest.raises(DlarenaError, match="at most 1048576 bytes"):
        load_workload(str(big))


@pytest.mark.parametrize(("model", "name"), [(SpecDoc, "spec"), (ProfileDoc, "profile")])
def test_the_published_json_schemas_are_the_validators_own(model: Any, name: str) -> None:
    published = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    assert published == model.model_json_schema(), "regenerate with 'dlarena NAME schema'"
