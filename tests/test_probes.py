"""The debuggability probes: real mistakes made in every framework's own environment."""

from __future__ import annotations

import json

import pytest

from dlarena.frameworks import FRAMEWORKS, TIERS
from dlarena.probes.debug import PROBES, probe_framework
from dlarena.probes.debug_worker import names_dtypes, names_shapes

from .test_cli import dlarena

pytestmark = pytest.mark.slow


def test_messages_are_matched_with_synonyms_and_whole_numbers() -> None:
    assert names_shapes("mat1 and mat2 shapes cannot be multiplied (2x5 and 8x4)")
    assert not names_shapes("shapes (2, 15) and (18, 4) differ")
    assert names_dtypes("expected m1 and m2 to have the same dtype, but got: double != float")
    assert not names_dtypes("expected a float tensor")


@pytest.fixture(scope="module")
def records():
    result = dlarena("probe", "debug", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {(r["framework"], r["probe"], r["tier"]): r for r in json.loads(result.stdout)}


def test_every_framework_probe_and_tier_has_a_record(records) -> None:
    assert set(records) == {(f, p, t) for f in FRAMEWORKS for p in PROBES for t in TIERS}
    assert {r["status"] for r in records.values()} <= {"works", "fails", "skipped"}


def test_a_shape_mismatch_is_caught_named_and_pointed_at_in_eager_mode(records) -> None:
    for framework in FRAMEWORKS:
        record = records[(framework, "shape", "eager")]
        assert record["status"] == "works" and record["when"] == "call", record
        assert record["names_shapes"] and record["faulty_line"], record
        assert "\x1b[" not in record["message"]


def test_a_nan_passes_silently_unless_a_checking_mode_is_on(records) -> None:
    for framework in FRAMEWORKS:
        for tier in TIERS:
            plain = records[(framework, "nan", tier)]
            assert plain["status"] == "fails" and plain["result"] == "NaN in the output"
    assert records[("jax", "nan_check", "eager")]["when"] == "call"
    assert records[("torch", "nan_check", "eager")]["when"] == "backward"
    assert records[("torch", "nan_check", "eager")]["nan_mode"].startswith("torch.autograd")
    mxnet = records[("mxnet", "nan_check", "eager")]
    assert mxnet["status"] == "skipped" and "no NaN-checking mode" in mxnet["reason"]


def test_jax_lets_a_float64_input_through_where_torch_refuses_it(records) -> None:
    assert records[("jax", "dtype", "eager")]["status"] == "fails"  # x64 off: silently float32
    torch = records[("torch", "dtype", "eager")]
    assert torch["status"] == "works" and torch["names_dtypes"]


def test_a_framework_without_its_environment_is_a_named_skip(tmp_path) -> None:
    found = probe_framework("mxnet", tmp_path, 1)
    assert {r["status"] for r in found["records"]} == {"skipped"}
    assert all("dlarena envs create mxnet" in r["reason"] for r in found["records"])
