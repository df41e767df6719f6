"""Every adapter builds every layer with the canonical weights and passes the parity gate.

The checks run the real frameworks in real processes: one parity checker per runtime, which
imports its framework once and builds every spec, tier and mode (python -m dlarena.checker),
and one benchmark of the mlp in every runtime and tier, whose cells must pass the same gate.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dlarena.frameworks import DEFAULT_RUNTIMES, MODES, RUNTIMES, TIERS
from dlarena.runner import envs
from dlarena.runner.checker import check_parity
from dlarena.runner.matrix import plan, run_matrix
from dlarena.runner.process import SRC_DIR
from dlarena.runner.reference import write_reference
from dlarena.spec.loader import load_workload

from .conftest import SPECS

pytestmark = pytest.mark.slow
PROBES = Path(__file__).parent / "probes"
NEW_WORKLOADS = ("transformer", "gpt", "lstm", "recsys")
LAYER_VARIANTS = tuple(str(SPECS / f) for f in ("sequence.yaml", "joins.yaml"))
ADAM_ZERO = str(SPECS / "adam_zero_gradient.yaml")
SCHEDULED = tuple(str(SPECS / f) for f in ("adamw_cosine.yaml", "sgd_cosine.yaml"))


def cells_of(
    workloads, tiers, runtimes=tuple(RUNTIMES), size: str = "small", precision: str = "fp32"
) -> list:
    specs = [load_workload(w, size).at_precision(precision) for w in workloads]
    return plan(specs, list(runtimes), list(tiers), list(MODES))


@pytest.fixture(scope="module")
def verdicts() -> dict:
    """Every spec, runtime, tier and mode the tests below look at, checked in one pass."""
    cells = (
        cells_of(["mlp", "cnn"], TIERS, size="tiny")
        + cells_of([str(SPECS / "kitchen.yaml"), str(SPECS / "large_mlp.yaml")], ["eager"])
        + cells_of(NEW_WORKLOADS, ["eager"], DEFAULT_RUNTIMES, "tiny")
        + cells_of(["gpt", "lstm"], ["compiled"], DEFAULT_RUNTIMES, "tiny")
        + cells_of(LAYER_VARIANTS, ["eager"], DEFAULT_RUNTIMES)
        + cells_of(["transformer"], ["eager"], ["jax-raw"], "tiny")
        + [c for c in cells_of([ADAM_ZERO], ["eager"], DEFAULT_RUNTIMES) if c.mode == "train"]
        + [c for c in cells_of(SCHEDULED, TIERS) if c.mode == "train"]
    )
    found = check_parity(cells, envs.dlarena_home(), {})
    return {
        (c.workload.name, c.runtime, c.tier, c.mode): v for c, v in zip(cells, found, strict=True)
    }


def of(verdicts: dict, workloads, runtimes=tuple(RUNTIMES), tiers=TIERS) -> dict:
    return {
        k: v
        for k, v in verdicts.items()
        if k[0] in workloads and k[1] in runtimes and k[2] in tiers
    }


def assert_all_pass(found: dict) -> None:
    for key, verdict in found.items():
        assert verdict.status == "ok", (key, verdict.reason, verdict.stderr_tail)
        expected = {"forward"} if key[3] == "infer" else {"loss", "grads", "params"}
        assert {c.check for c in verdict.checks} == expected, key
        for check in verdict.checks:
            assert check.passed and check.max_rel <= check.tolerance, (key, check)
        assert verdict.passed, key


def test_builtin_workloads_pass_parity_in_every_runtime_and_tier(verdicts):
    """At the tiny size: the same graphs as the default workloads."""
    found = of(verdicts, ("mlp", "cnn"))
    expected = sum(len(r.tiers) * len(r.modes) for r in RUNTIMES.values())
    assert len(found) == 2 * expected  # ONNX Runtime has no training cells
    assert_all_pass(found)
    versions = {k[1]: v.framework_version for k, v in found.items()}
    assert versions["mxnet"] == "1.9.1" and versions["torch"].startswith("2.13.0")


def test_layer_variants_and_adam_pass_parity_in_every_runtime(verdicts):
    found = of(verdicts, ("kitchen",))
    assert len(found) == sum(len(r.modes) for r in RUNTIMES.values())
    assert_all_pass(found)


def test_a_wide_mlp_passes_parity_in_every_runtime(verdicts):
    """2048-4096-4096-10 at batch 512: ReLU decisions within float32 rounding of zero."""
    found = of(verdicts, ("large_mlp",))
    assert len(found) == sum(len(r.modes) for r in RUNTIMES.values())
    assert_all_pass(found)


def test_the_new_workloads_pass_parity_in_every_framework(verdicts):
    """The transformer, gpt, lstm and recsys (tiny) and the sequence and joining layer variants
    in the five library runtimes, eager; the compiled tier on gpt and lstm, whose causal
    attention and recurrence are what a graph compiler most often gets wrong. The raw-API
    variants name the ops they do not build."""
    names = (*NEW_WORKLOADS, "sequence", "joins")
    found = of(verdicts, names, DEFAULT_RUNTIMES)
    per_tier = sum(len(RUNTIMES[r].modes) for r in DEFAULT_RUNTIMES)
    assert len(found) == 8 * per_tier
    assert_all_pass(found)
    refused = verdicts[("transformer", "jax-raw", "eager", "train")]
    assert refused.status == "failed" and "jax-raw does not build attention" in refused.reason


def test_benchmarked_cells_pass_the_same_gate_in_every_runtime_and_tier(store, fast):
    """A bench run's cells carry parity from their own worker process, and only those that
    pass it are ranked."""
    cells = cells_of(["mlp"], TIERS, DEFAULT_RUNTIMES, "tiny")
    run_id = run_matrix(store, cells, fast, envs.dlarena_home(), {}, lambda c, r: None)
    stored = {(c.workload, c.runtime, c.tier, c.mode): c for c in store.cells(run_id)}
    assert len(stored) == sum(
        len(RUNTIMES[r].tiers) * len(RUNTIMES[r].modes) for r in DEFAULT_RUNTIMES
    )
    for key, cell in stored.items():
        assert cell.status == "ok", (key, cell.reason, cell.stderr_tail)
        expected = {"forward"} if key[3] == "infer" else {"loss", "grads", "params"}
        assert {c.check for c in cell.parity} == expected, key
        assert all(c.passed for c in cell.parity), key
        assert cell.ranked and cell.samples_per_s > 0, key


def test_attention_biases_trained_with_adam_pass_and_the_record_says_how(verdicts):
    """The key bias's true gradient is zero: Adam turns its rounding noise into full steps, in
    float32 and float64 alike; it is held to Adam's step bound, and the record says so."""
    found = of(verdicts, ("adam_zero_gradient",), DEFAULT_RUNTIMES, ("eager",))
    assert len(found) == sum("train" in RUNTIMES[r].modes for r in DEFAULT_RUNTIMES)
    assert_all_pass(found)
    for key, verdict in found.items():
        params = next(c for c in verdict.checks if c.check == "params")
        assert "zero true gradient (attn.k_bias" in params.note, (key, params)


def test_adamw_and_a_warmup_cosine_schedule_pass_parity_in_every_runtime_and_tier(verdicts):
    """Decoupled weight decay and each step's scheduled rate, through each framework's own
    optimizers and schedulers (torch's AdamW and LambdaLR, Optax's adamw and schedule, Keras's
    CosineDecay, an MXNet LRScheduler) and written out in the raw variants."""
    found = of(verdicts, ("adamw_cosine", "sgd_cosine"))
    trainers = [r for r in RUNTIMES.values() if "train" in r.modes]
    assert len(found) == 2 * sum(len(r.tiers) for r in trainers)
    assert_all_pass(found)


@pytest.mark.parametrize("runtime", [r for r in DEFAULT_RUNTIMES if "train" in RUNTIMES[r].modes])
def test_dropout_is_off_for_parity_and_on_in_timed_training(runtime, tmp_path):
    workload = load_workload(str(SPECS / "dropout.yaml"))
    write_reference(workload, tmp_path / "ref.npz")
    python = envs.resolve(runtime, envs.dlarena_home(), {}).python
    probe = [str(PROBES / "dropout.py"), RUNTIMES[runtime].module, str(tmp_path / "ref.npz")]
    done = subprocess.run(
        [python, *probe],
        input=workload.canonical_json(),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC_DIR},
        check=True,
    )
    losses = json.loads(done.stdout.splitlines()[-1])
    assert losses["twin"] == pytest.approx(losses["reference"], rel=1e-5)
    assert abs(losses["dropped"][0] - losses["twin"]) > 1e-3 * losses["twin"]
