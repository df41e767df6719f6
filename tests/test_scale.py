"""Data-parallel scaling with each framework's own machinery, on this machine's CPUs."""

from __future__ import annotations

import json

import pytest

from .test_cli import dlarena

pytestmark = pytest.mark.slow


def test_torch_ddp_on_one_and_two_workers_keeps_the_replicas_identical() -> None:
    result = dlarena(
        "scale", "--framework", "torch", "--workers", "1", "--workers", "2",
        "--workload", "mlp", "--size", "tiny", "--steps", "10", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {r["workers"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {1, 2}
    for row in rows.values():
        assert row["identical"] and len(row["digests"]) == 1, row
        assert row["samples_per_s"] > 0 and row["independent_samples_per_s"] > 0
    assert rows[1]["efficiency"] == pytest.approx(1.0)
    # two replicas trained on different shards end where one trained alone does not
    assert rows[2]["digests"] != rows[1]["digests"]


def test_a_framework_without_a_scenario_is_named() -> None:
    result = dlarena("scale", "--framework", "mxnet", "--workers", "1")
    assert result.returncode == 2 and "no scaling scenario for mxnet yet" in result.stderr
