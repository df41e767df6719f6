"""Real worker processes: failures become failed cells with their reasons, the run goes on."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import pytest

from dlarena.frameworks import RUNTIMES, Runtime
from dlarena.records import WorkerTask
from dlarena.runner import envs
from dlarena.runner.checker import check_parity
from dlarena.runner.launcher import launch
from dlarena.runner.matrix import plan, run_matrix, write_reference
from dlarena.runner.threads import fair
from dlarena.spec.loader import load_workload

ROOT = Path(__file__).parent.parent
HOME = envs.dlarena_home()
pytestmark = pytest.mark.slow  # real worker processes


def mlp_cells(runtimes: list[str], mode: str = "infer") -> list:
    return plan([load_workload("mlp")], runtimes, ["eager"], [mode])


@pytest.fixture
def fake_runtime(monkeypatch):
    """Registers a test adapter from tests/fakes as a runtime: one registry entry, nothing else."""

    def register(name: str) -> str:
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        runtime = Runtime(
            name=name,
            display=name,
            module=f"tests.fakes.{name}",
            framework_module="numpy",
            distribution="numpy",
            api="numpy",
            compiled_as="-",
            modes=("infer",),
        )
        monkeypatch.setitem(RUNTIMES, name, runtime)
        return name

    return register


def test_missing_environment_is_a_failed_cell_naming_the_fix(store, fast, tmp_path, monkeypatch):
    requirements = tmp_path / "home" / "requirements"
    requirements.mkdir(parents=True)
    (requirements / "never-made.txt").write_text("onnxruntime==1.32.0\n")
    monkeypatch.setenv("DLARENA_HOME", str(tmp_path / "home"))
    records = []
    run_id = run_matrix(
        store,
        mlp_cells(["onnxruntime"]),
        fast,
        tmp_path / "home",
        {"onnxruntime": "never-made"},
        lambda cell, record: records.append(record),
    )
    (cell,) = store.cells(run_id)
    assert cell.status == "failed" and not cell.ranked
    assert cell.reason == (
        "onnxruntime is not installed in env 'never-made'; run: dlarena envs create never-made"
    )
    assert store.run_info(run_id).status == "finished"


def mxnet_infer_task(folder: Path) -> WorkerTask:
    workload = load_workload("mlp")
    ref = folder / "mlp.npz"
    write_reference(workload, ref)
    return WorkerTask(
        module="dlarena.frameworks.mxnet.adapter",
        workload=workload.to_dict(),
        tier="eager",
        mode="infer",
        threading=fair(2),
        device="cpu",
        reference=str(ref),
        warmup=1,
        blocks=1,
        min_block_s=0.0,
    )


def test_a_worker_killed_mid_run_comes_back_with_its_signal(tmp_path):
    def kill_during_build(event, proc):
        if event.get("phase") == "build":
            proc.send_signal(signal.SIGKILL)

    python = envs.get("mxnet", HOME).python
    outcome = launch(python, mxnet_infer_task(tmp_path), 120, kill_during_build)
    assert not outcome.ok and outcome.exit_code == -signal.SIGKILL
    assert outcome.reason == "worker exited with code -9 (killed by SIGKILL)"


def test_a_failing_worker_is_stored_with_its_stderr_and_the_matrix_goes_on(store, fast):
    # torch is sent to the MXNet environment, which has no torch: the worker fails on import.
    cells = mlp_cells(["torch", "onnxruntime"])
    run_id = run_matrix(store, cells, fast, HOME, {"torch": "mxnet"}, lambda c, r: None)
    failed, passed = store.cells(run_id)
    assert failed.status == "failed" and failed.exit_code == 1
    assert failed.reason == "ModuleNotFoundError: No module named 'torch'"
    assert "Traceback" in (failed.stderr_tail or "")
    assert passed.status == "ok" and passed.ranked


def test_a_hung_worker_is_killed_at_its_timeout(store, fast, fake_runtime):
    # 10 s: well past a numpy-only worker's start on a busy machine, so it hangs in 'build'
    slow = dataclasses.replace(fast, timeout_s=10.0)
    run_id = run_matrix(store, mlp_cells([fake_runtime("sleepy")]), slow, HOME, {}, print)
    (cell,) = store.cells(run_id)
    assert cell.status == "failed" and cell.exit_code == -signal.SIGKILL
    assert cell.reason == "timed out after 10s in phase 'build'"


def test_a_parity_checker_that_dies_fails_its_item_and_a_new_one_checks_the_rest(fake_runtime):
    cells = plan([load_workload("mlp", "tiny"), load_workload("cnn", "tiny")],
                 [fake_runtime("crashy")], ["eager", "compiled"], ["infer"])  # fmt: skip
    seen = []
    found = check_parity(cells, HOME, {}, on_verdict=seen.append)
    assert [v.label for v in found] == [c.label for c in cells] and len(seen) == 4
    assert [v.status for v in found] == ["ok", "failed", "ok", "failed"]
    assert all(v.passed for v in found[::2])
    assert found[1].reason == "the parity checker exited with code -9 on this item"


def test_a_hung_parity_checker_is_killed_and_named(fake_runtime):
    (verdict,) = check_parity(mlp_cells([fake_runtime("sleepy")]), HOME, {}, timeout_s=5.0)
    assert verdict.status == "failed" and not verdict.passed
    assert verdict.reason == "the parity checker was silent for 5s on this item and was killed"


def test_a_checker_whose_framework_is_missing_fails_every_item_at_once():
    cells = plan([load_workload("mlp", "tiny")], ["torch"], ["eager", "compiled"], ["infer"])
    found = check_parity(cells, HOME, {"torch": "mxnet"})
    assert [v.reason for v in found] == ["ModuleNotFoundError: No module named 'torch'"] * 2


def test_the_checker_fails_a_spec_whose_math_differs(monkeypatch):
    """The same shifted reference as below fails the checker's forward check."""
    import numpy as np

    from dlarena.runner import checker

    original = checker.write_reference

    def shifted_reference(workload, path, *rest):
        rows = original(workload, path, *rest)
        with np.load(path) as data:
            arrays = dict(data)
        arrays["logits"] = arrays["logits"] + 0.01 * np.abs(arrays["logits"]).max()
        np.savez(path, **arrays)
        return rows

    monkeypatch.setattr(checker, "write_reference", shifted_reference)
    (verdict,) = check_parity(mlp_cells(["onnxruntime"]), HOME, {})
    assert verdict.status == "ok" and not verdict.passed
    assert verdict.checks[0].max_rel == pytest.approx(0.01, rel=0.02)


def test_framework_chatter_on_stdout_never_reaches_the_event_stream(store, fast, fake_runtime):
    run_id = run_matrix(store, mlp_cells([fake_runtime("chatty")]), fast, HOME, {}, print)
    (cell,) = store.cells(run_id)
    assert cell.status == "ok" and cell.ranked, cell.reason
    assert cell.summary is not None and cell.summary.blocks == 2


def test_a_task_that_is_not_the_protocol_is_a_clear_failure(tmp_path):
    task = dataclasses.replace(mxnet_infer_task(tmp_path), module="dlarena.frameworks.nothing")
    outcome = launch(envs.get("mxnet", HOME).python, task, 120)
    assert not outcome.ok and outcome.exit_code == 1
    assert outcome.reason == "ModuleNotFoundError: No module named 'dlarena.frameworks.nothing'"


def test_unknown_runtime_is_refused_before_anything_runs():
    from dlarena.errors import DlarenaError

    with pytest.raises(DlarenaError, match="unknown runtime 'pytorch'; choose from torch"):
        mlp_cells(["pytorch"])


def test_the_gate_fails_a_cell_whose_math_differs(store, fast, monkeypatch):
    """A reference made with a different bias stands in for a framework that got one wrong."""
    import numpy as np

    from dlarena.runner import run

    original = run.write_reference

    def shifted_reference(workload, path, *rest):
        original(workload, path, *rest)
        with np.load(path) as data:
            arrays = dict(data)
        arrays["logits"] = arrays["logits"] + 0.01 * np.abs(arrays["logits"]).max()
        np.savez(path, **arrays)

    monkeypatch.setattr(run, "write_reference", shifted_reference)
    run_id = run_matrix(store, mlp_cells(["onnxruntime"]), fast, HOME, {}, lambda c, r: None)
    (cell,) = store.cells(run_id)
    assert cell.status == "ok" and cell.parity_passed is False and not cell.ranked
    assert cell.parity[0].max_rel == pytest.approx(0.01, rel=0.02)


def test_same_named_specs_get_references_of_their_own(store, fast, tmp_path):
    mlp = load_workload("mlp")
    wider = dataclasses.replace(mlp, batch_size=mlp.batch_size * 2)  # same name, other spec
    cells = plan([mlp, wider], ["onnxruntime"], ["eager"], ["infer"])
    run_id = run_matrix(store, cells, fast, HOME, {}, lambda c, r: None)
    stored = store.cells(run_id)
    assert [c.status for c in stored] == ["ok", "ok"] and all(c.ranked for c in stored)
    assert {c.spec_hash for c in stored} == {mlp.content_hash, wider.content_hash}
    files = sorted(p.name for p in store.reference_dir(run_id).iterdir())
    assert files == sorted(f"{w.content_hash}.npz" for w in (mlp, wider))


def test_a_training_cell_checks_parity_on_the_graph_it_times(store, fast, monkeypatch):
    """A bench training cell checks its steps on the conditioned parity rows repeated to the
    batch it times (the mlp's 16 rows, 4 times): a step that goes wrong only at that batch's
    shape, as a kernel specialized to it can, fails the gate and is not ranked."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    shapebug = dataclasses.replace(
        RUNTIMES["torch"], name="shapebug", module="tests.fakes.shapebug"
    )
    monkeypatch.setitem(RUNTIMES, "shapebug", shapebug)
    cells = plan([load_workload("mlp")], ["shapebug", "torch"], ["eager"], ["train"])
    run_id = run_matrix(store, cells, fast, HOME, {}, lambda c, r: None)
    stored = {c.runtime: c for c in store.cells(run_id)}
    assert stored["torch"].status == "ok" and stored["torch"].ranked
    assert all(c.passed for c in stored["torch"].parity), stored["torch"].parity
    failed = {c.check for c in stored["shapebug"].parity if not c.passed}
    assert "loss" in failed and not stored["shapebug"].ranked, stored["shapebug"].parity
