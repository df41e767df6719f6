"""The debuggability probes: real mistakes made in every framework's own environment."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dlarena.codec import encode
from dlarena.decide.criteria import debuggability, deployability, maturity, published
from dlarena.decide.criteria import learning as learning_criterion
from dlarena.evidence import gather
from dlarena.frameworks import FRAMEWORKS, TIERS
from dlarena.probes.debug import PROBES, probe_framework
from dlarena.probes.debug_worker import names_dtypes, names_shapes
from dlarena.probes.deploy import ENVS
from dlarena.probes.deploy import PATHS as EXPORT_PATHS
from dlarena.probes.deploy_worker import probe as deploy_probe
from dlarena.probes.exports import ExportPath
from dlarena.probes.records import DebugRecord, DeployRecord
from dlarena.runner import envs
from dlarena.spec.loader import BUILTIN, load_workload
from dlarena.store import Store

from .test_cli import dlarena

pytestmark = pytest.mark.slow


def test_messages_are_matched_with_synonyms_and_whole_numbers() -> None:
    assert names_shapes("mat1 and mat2 shapes cannot be multiplied (2x5 and 8x4)")
    assert not names_shapes("shapes (2, 15) and (18, 4) differ")
    assert names_dtypes("expected m1 and m2 to have the same dtype, but got: double != float")
    assert not names_dtypes("expected a float tensor")


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    store = tmp_path_factory.mktemp("probes") / "s.sqlite"
    result = dlarena("probe", "debug", "--store", str(store), "--format", "json")
    assert result.returncode == 0, result.stderr
    return store, json.loads(result.stdout)


@pytest.fixture(scope="module")
def records(probed):
    return {(r["framework"], r["probe"], r["tier"]): r for r in probed[1]}


def test_every_framework_probe_and_tier_has_a_record(records) -> None:
    assert set(records) == {(f, p, t) for f in FRAMEWORKS for p in PROBES for t in TIERS}
    # skipped only where a framework has no such mode; otherwise works exactly when caught
    skipped = {k for k, r in records.items() if r["status"] == "skipped"}
    assert skipped == {("mxnet", "nan_check", t) for t in TIERS}
    for key, record in records.items():
        if key not in skipped:
            assert record["status"] == ("works" if record["caught"] else "fails"), record


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


def test_a_framework_without_its_environment_is_a_named_skip(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DLARENA_ENVS", str(tmp_path / "no-envs"))
    found = probe_framework("mxnet", tmp_path, 1)
    assert [(r.probe, r.tier) for r in found] == [(p, t) for p in PROBES for t in TIERS]
    assert {r.status for r in found} == {"skipped"}
    assert all("dlarena envs create mxnet" in (r.reason or "") for r in found)


def test_the_records_are_stored_and_feed_the_learning_criterion(probed) -> None:
    store, printed = probed
    db = Store(store)
    stored = db.probes("debug", DebugRecord)
    assert len(stored) == len(printed) and all(r.id for r in stored)
    assert [encode(dataclasses.replace(r, id=None, measured_at=None)) for r in stored] == printed
    evidence = gather(db)
    db.close()
    learning = {f: learning_criterion(evidence, f) for f in FRAMEWORKS}
    for framework, criterion in learning.items():
        rated = published(evidence, framework, "learning").value
        probed_score = debuggability([r for r in stored if r.framework == framework])
        assert criterion.basis == "observed"
        assert criterion.value == pytest.approx((rated + probed_score) / 2, abs=0.01)
        assert "against the rating" in criterion.inputs[0]
    # MXNet has no NaN-checking mode and lets the NaN through: it scores below torch
    assert debuggability([r for r in stored if r.framework == "mxnet"]) < debuggability(
        [r for r in stored if r.framework == "torch"]
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    store = tmp_path_factory.mktemp("deploy") / "s.sqlite"
    result = dlarena("probe", "deploy", "--store", str(store), "--format", "json")
    assert result.returncode == 0, result.stderr
    return store, json.loads(result.stdout)


def test_every_export_path_runs_on_every_tiny_workload_and_is_checked(deployed) -> None:
    _, records = deployed
    keys = {(r["framework"], r["path"], r["workload"]) for r in records}
    assert keys == {
        (f, p, f"{w} (tiny)") for f in FRAMEWORKS for p in EXPORT_PATHS[f] for w in BUILTIN
    }
    for r in records:
        on_demand = ENVS.get((r["framework"], r["path"]))
        made = on_demand is not None and envs.get(on_demand, envs.dlarena_home()).exists()
        # skipped exactly when its exporter's on-demand environment was never made
        assert (r["status"] == "skipped") == (on_demand is not None and not made), r
        if r["status"] == "fails":
            assert r["error"], r
        if r["status"] in ("works", "deprecated") and "int8" in r["path"]:  # said, not hidden
            assert r["quantized"] and r["relative_diff"] < 0.1, r
        elif r["status"] in ("works", "deprecated"):
            assert r["max_abs_diff"] is not None and r["max_abs_diff"] < 1e-3, r
        if r["status"] in ("works", "deprecated"):
            assert r["artifact_bytes"] > 0 and r["latency_ms"] > 0 and r["load_s"] >= 0, r
        if r["status"] == "skipped":  # its exporter is elsewhere: named, with the fix
            assert "needs " in r["reason"] or "dlarena envs create export-" in r["reason"], r
    by_key = {(r["framework"], r["path"]): r for r in records if r["workload"] == "cnn (tiny)"}
    assert by_key[("torch", "torch.export (.pt2)")]["status"] == "works"
    assert by_key[("torch", "TorchScript")]["status"] == "deprecated"  # said, not hidden
    assert by_key[("jax", "jax.export")]["status"] == "works"
    assert by_key[("mxnet", "HybridBlock.export")]["status"] == "works"
    # int8: torch.ao and ONNX Runtime's quantizer move the cnn's logits, but within 10%
    for path in ("int8 dynamic (torch.ao)", "onnx int8 (ONNX Runtime quantizer)"):
        assert 1e-4 < by_key[("torch", path)]["relative_diff"] < 0.1, by_key[("torch", path)]


def test_deployment_records_feed_the_maturity_criterion(deployed) -> None:
    store, _ = deployed
    db = Store(store)
    evidence = gather(db)
    db.close()
    for framework in FRAMEWORKS:
        criterion = maturity(evidence, framework)
        assert criterion.basis == "observed" and "against the rating" in criterion.inputs[0]


def test_an_export_that_computes_something_else_fails(tmp_path) -> None:
    """The check itself, on an 'exporter' that is off by 1e-2: it must not pass as works."""
    workload = load_workload("mlp", "tiny")

    class Identity:  # the framework: logits are the input's first columns
        def __init__(self, *args):
            pass

        def prepare(self, x, y):
            return x, y

        def infer(self, batch):
            return batch[0][:, :4]

        def to_numpy(self, handle):
            return handle

    off = ExportPath(
        export=lambda adapter, x, folder: folder / "artifact",
        load=lambda artifact, x: None,
        run=lambda loaded, x: x[:, :4] + 1e-2,
        target="nothing",
    )
    record = deploy_probe(Identity, None, off, workload, tmp_path, calls=1)
    assert record["status"] == "fails" and "computes something else" in record["error"]


def _records(framework: str, statuses: dict[str, str]) -> list[DeployRecord]:
    return [
        DeployRecord(framework, path, w, status)
        for path, status in statuses.items()
        for w in ("mlp (tiny)", "cnn (tiny)")
    ]


def test_deployability_rewards_breadth_and_leaves_unknown_ways_out() -> None:
    """Portable, serving and devices count alike: the best path in each; a way out without any
    path scores 0; one whose paths were all skipped is unknown and left out."""
    works = {p: "works" for p in EXPORT_PATHS["torch"]}
    assert deployability(_records("torch", works)) == pytest.approx(10.0)
    # one working ONNX exporter is enough for the portable way out
    one_onnx = works | {"onnx (legacy exporter)": "fails"}
    assert deployability(_records("torch", one_onnx)) == pytest.approx(10.0)
    # device exporters not installed: devices unknown, not absent
    skipped = works | {p: "skipped" for p in works if "ExecuTorch" in p or "LiteRT" in p}
    assert deployability(_records("torch", skipped)) == pytest.approx(10.0)
    # MXNet has no path to devices at all: a third of the score is 0
    mxnet = {p: "works" for p in EXPORT_PATHS["mxnet"]}
    assert deployability(_records("mxnet", mxnet)) == pytest.approx(10 * 2 / 3)
    # a deprecated path counts half
    tf = {p: "works" for p in EXPORT_PATHS["tensorflow"]} | {"TFLite / LiteRT": "deprecated"}
    assert deployability(_records("tensorflow", tf)) == pytest.approx(10 * 2.5 / 3)


def test_the_table_output_ends_with_the_matrix(tmp_path) -> None:
    result = dlarena("probe", "debug", "--framework", "mxnet", "--store", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    matrix = result.stdout[result.stdout.index("debuggability matrix") :]
    assert "mxnet eager" in matrix and "mxnet compiled" in matrix and "no mode" in matrix
