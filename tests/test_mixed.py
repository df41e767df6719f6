"""Mixed precision: bfloat16 compute over float32 parameters, named apart from float32, gated by
tolerances from bfloat16's rounding, and the mistakes it makes likely caught by that gate
(real PyTorch in real checker processes; the passing frameworks are in tests/test_parity.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dlarena.frameworks import DEFAULT_RUNTIMES, RUNTIMES, TIERS
from dlarena.measure import parity
from dlarena.runner import envs
from dlarena.runner.cell import Cell
from dlarena.runner.checker import check_parity
from dlarena.spec.loader import load_workload, size_of
from dlarena.spec.model import precision_of

from .test_cli import dlarena
from .test_parity import assert_all_pass, cells_of, of
from .test_registry import cli

ROOT = Path(__file__).resolve().parents[1]
BUGS = {**os.environ, "DLARENA_FRAMEWORKS": "tests.fakes.mixedbugs", "PYTHONPATH": str(ROOT)}


def test_a_mixed_precision_workload_is_the_same_model_named_apart() -> None:
    mlp = load_workload("mlp", "tiny")
    bf16 = mlp.at_precision("bf16")
    assert (bf16.name, bf16.precision, bf16.layers) == ("mlp-bf16", "bf16", mlp.layers)
    assert bf16.content_hash != mlp.content_hash and bf16.at_precision("fp32") == mlp
    assert "precision" not in mlp.to_dict()  # every float32 spec keeps its hash
    assert size_of(bf16.content_hash) == "tiny"
    # what a stored cell keeps says its precision and names its float32 twin
    assert precision_of(bf16.canonical_json()) == ("bf16", mlp.content_hash)
    assert precision_of(mlp.canonical_json()) == ("fp32", mlp.content_hash)
    cell = Cell(bf16, "torch", "compiled", "train").empty()
    assert cell.api == "nn.Module + torch.autocast, GradScaler for fp16 (bf16)"
    assert Cell(bf16, "jax-raw", "eager", "train").empty().api == "jax.numpy + float32 only (bf16)"


def test_bfloat16_tolerances_grow_with_its_rounding_and_the_depth() -> None:
    for name in ("mlp", "cnn", "transformer"):
        workload = load_workload(name, "tiny")
        full, mixed = parity.tolerances(workload), parity.tolerances(workload.at_precision("bf16"))
        depth = parity.shape_of_error(workload)[1]
        added = parity.SAFETY * parity.U_MIXED["bf16"] * depth
        assert mixed["forward"] == pytest.approx(full["forward"] + added)
        assert mixed["grads"] == pytest.approx(2 * mixed["forward"])
        assert (full["mixed_bits"], mixed["mixed_bits"]) == (0, 8)


def test_a_loss_on_the_bfloat16_grid_fails_and_a_float32_one_does_not() -> None:
    rng = np.random.default_rng(0)
    losses = rng.uniform(1, 3, 4).astype(np.float32)
    as_bf16 = (losses.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    assert parity.on_grid(as_bf16, 8) and not parity.on_grid(losses, 8)
    assert parity.on_grid(np.float32([1.5, 0.25]), 11)  # a float16 number is one in float32 too
    bounds = {"loss": 1.0, "mixed_bits": 8.0}
    assert parity.loss_check(losses, 0.0, 0.0, bounds).passed
    caught = parity.loss_check(as_bf16, 0.0, 0.0, bounds)
    assert not caught.passed and "not in float32" in caught.note
    assert parity.loss_check(as_bf16, 0.0, 0.0, {**bounds, "mixed_bits": 0.0}).passed


def test_an_unknown_precision_is_named_before_anything_runs(tmp_path: Path) -> None:
    result = dlarena("bench", "--precision", "fp8", "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 2 and "precision 'fp8' is unknown; choose fp32, bf16, fp16" in (
        result.stderr
    )
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.slow
def test_the_gate_fails_the_mistakes_mixed_precision_makes_likely() -> None:
    """Each mistake is a PyTorch adapter of its own (tests/fakes/mixedbugs); the same spec in
    plain PyTorch passes (tests/test_parity.py)."""
    result = cli(
        "parity", "mlp", "cnn", "--size", "tiny", "--precision", "bf16", "--tier", "eager",
        "--mode", "train", "--runtime", "bf16-weights", "--runtime", "bf16-loss",
        "--format", "json", env=BUGS,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    verdicts = {(v["workload"], v["runtime"]): v for v in json.loads(result.stdout)["verdicts"]}
    failed = {
        key: {c["check"] for c in v["checks"] if not c["passed"]} for key, v in verdicts.items()
    }
    assert all(v["status"] == "ok" for v in verdicts.values()), verdicts  # built, then judged
    # weights in bfloat16: the updates below half a bfloat16 step of their weight are rounded
    # away (the cnn's parameters moved 1.0 off the float64 displacement against 0.44 allowed)
    assert "params" in failed[("cnn-bf16", "bf16-weights")]
    # the loss in bfloat16: within the logits' own error, but carrying bfloat16's 8 bits
    for workload in ("mlp-bf16", "cnn-bf16"):
        assert failed[(workload, "bf16-loss")] == {"loss"}
        checks = verdicts[(workload, "bf16-loss")]["checks"]
        assert "not in float32" in next(c for c in checks if c["check"] == "loss")["note"]
    assert RUNTIMES.keys().isdisjoint({"bf16-weights", "bf16-loss", "bf16-norm"})


@pytest.mark.slow
def test_the_gate_fails_batch_norm_statistics_summed_in_bfloat16() -> None:
    """On the small cnn (4,096 values a channel): plain PyTorch's bfloat16 gradients sit 0.17
    from float64, a running bfloat16 sum's about 1.1 (bound 0.44). The tiny cnn's 1,024 values
    a channel are too few for the sum to stall beyond bfloat16's own error."""
    result = cli(
        "parity", "cnn", "--size", "small", "--precision", "bf16", "--tier", "eager", "--mode",
        "train", "--runtime", "bf16-norm", "--runtime", "torch", "--format", "json", env=BUGS,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    verdicts = {v["runtime"]: v for v in json.loads(result.stdout)["verdicts"]}
    assert verdicts["torch"]["passed"]
    failed = {c["check"] for c in verdicts["bf16-norm"]["checks"] if not c["passed"]}
    assert {"grads", "params"} <= failed, verdicts["bf16-norm"]["checks"]


@pytest.mark.slow
def test_converge_trains_in_bfloat16_inside_the_envelope_or_says_why_not(tmp_path: Path) -> None:
    result = dlarena(
        "converge", "--task", "digits-mlp", "--precision", "bf16", "--runtime", "torch",
        "--runtime", "mxnet", "--tier", "eager", "--steps", "20", "--eval-every", "10",
        "--target", "0.2", "--store", str(tmp_path / "s.sqlite"), "--format", "json",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # MXNet did not train
    torch, mxnet = sorted(json.loads(result.stdout), key=lambda r: r["framework"], reverse=True)
    assert torch["task"] == "digits-mlp-bf16" and torch["status"] == "reached", torch
    assert torch["envelope"]["inside"], torch["envelope"]  # bfloat16's loss bound, per step
    assert mxnet["status"] == "failed"
    assert mxnet["reason"].startswith("the worker failed (exit 1): NotImplementedError: mxnet has")


@pytest.mark.slow
def test_bench_and_the_report_set_bfloat16_against_float32(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    result = dlarena(
        "bench", "--quick", "--slow-reruns", "0", "--workload", "mlp", "--size", "tiny",
        "--runtime", "torch", "--tier", "eager", "--mode", "infer", "--precision", "fp32",
        "--precision", "bf16", "--store", store, "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {c["workload"] for c in found["cells"]} == {"mlp", "mlp-bf16"}
    [row] = found["mixed_precision"]
    assert row["speedup"] > 0
    low, high = map(float, row["ci_95"].split("-"))
    assert low <= row["speedup"] <= high
    assert 0 < row["parity_fp32"] < 1 and 0 < row["parity_mixed"] < 1
    assert row["api"] == "nn.Module + torch.autocast, GradScaler for fp16 (bf16)"
    # percent of peak at each cell's own precision: the run probed bfloat16's GEMM peak too
    config = found["run"]["config"]
    assert config["peak_gflops_bf16"] > 0 and config["peak_gflops"] > 0
    assert all(c["pct_peak"] > 0 for c in found["cells"])
    page = tmp_path / "report.html"
    assert dlarena("report", "--store", store, "--output", str(page)).returncode == 0
    assert "Mixed precision against float32" in page.read_text()
    assert "| mlp | torch | eager | infer | bf16 |" in page.with_suffix(".md").read_text()


@pytest.fixture(scope="module")
def bf16_verdicts() -> dict:
    """mlp and cnn eager, the transformer in both tiers, in bfloat16, every library runtime: one
    parity checker per runtime."""
    cells = cells_of(["mlp", "cnn"], ["eager"], DEFAULT_RUNTIMES, "tiny", "bf16") + cells_of(
        ["transformer"], TIERS, DEFAULT_RUNTIMES, "tiny", "bf16"
    )
    found = check_parity(cells, envs.dlarena_home(), {})
    return {
        (c.workload.name, c.runtime, c.tier, c.mode): v for c, v in zip(cells, found, strict=True)
    }


@pytest.mark.slow
def test_bfloat16_cells_pass_their_own_gate_where_a_framework_has_a_path(
    bf16_verdicts: dict,
) -> None:
    """mlp, cnn and the transformer in bfloat16 compute over float32 parameters: torch.autocast,
    Keras's mixed_bfloat16 policy and Flax's compute dtype pass the gate at bfloat16's
    tolerances, and really compute in bfloat16 (their logits are further from float64 than
    float32's own tolerance allows); MXNet and ONNX Runtime say why they have no path."""
    mixed = ("mlp-bf16", "cnn-bf16", "transformer-bf16")
    found = of(bf16_verdicts, mixed, ("torch", "tensorflow", "jax"))
    assert len(found) == 3 * (2 + 2 + 4)  # mlp, cnn eager; transformer both tiers
    assert_all_pass(found)
    for key, verdict in found.items():
        assert verdict.passed
        if key[3] == "infer":
            forward = next(c for c in verdict.checks if c.check == "forward")
            float32_bound = parity.tolerances(load_workload(key[0].removesuffix("-bf16"), "tiny"))
            assert forward.max_rel > float32_bound["forward"], key  # computed in bfloat16
    for runtime, why in (("mxnet", "MXNet's AMP"), ("onnxruntime", "no bfloat16 MatMul")):
        refused = bf16_verdicts[("mlp-bf16", runtime, "eager", "infer")]
        assert refused.status == "failed" and f"{runtime} has no bf16 path" in refused.reason
        assert why in refused.reason
