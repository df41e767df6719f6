"""dlarena fidelity: the spec-built ResNet-50, BERT and GPT-2 against keras.applications and
Hugging Face transformers, in real worker processes (a few minutes)."""

from __future__ import annotations

import json

import pytest

from .test_cli import dlarena

pytestmark = pytest.mark.slow


def test_fidelity_finds_the_published_parameter_counts_and_times_both_models() -> None:
    result = dlarena("fidelity", "--rounds", "1", "--steps", "1", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["reference"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"keras-resnet50", "hf-bert", "hf-gpt2"}
    for name, row in rows.items():
        assert row["status"] == "ok", (name, row["error"])
        assert row["parameters_match"] is True, (name, row["parameters_full"])
        assert row["reference_step_s"] > 0 and row["dlarena_step_s"] > 0  # speed: no threshold
    counts = {name: row["parameters_full"] for name, row in rows.items()}
    assert counts["keras-resnet50"]["reference_parameters"] == 25_583_592
    assert counts["hf-gpt2"]["dlarena_parameters"] == 124_439_808
    bert = counts["hf-bert"]
    assert bert["reference_parameters"] - bert["dlarena_parameters"] == 768  # a token-type row
