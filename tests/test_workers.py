"""Real worker processes: failures become failed cells with their reasons, the run goes on."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from dlarena.runner import envs
from dlarena.runner.launcher import launch
from dlarena.runner.matrix import plan, run_matrix, write_reference
from dlarena.spec.loader import load_workload


def mlp_cells(runtimes: list[str], mode: str = "infer") -> list:
    return plan([load_workload("mlp")], runtimes, ["eager"], [mode])


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
        {"onnxruntime": "never-made"},
        lambda cell, record: records.append(record),
    )
    (cell,) = store.cells(run_id)
    assert cell.status == "failed" and not cell.ranked
    assert cell.reason == (
        "onnxruntime is not installed in env 'never-made'; run: dlarena envs create never-made"
    )
    assert store.run_info(run_id)["status"] == "finished"


def mxnet_infer_task(name: str) -> dict:
    workload = load_workload("mlp")
    ref = envs.dlarena_home() / "runs" / name / "mlp.npz"
    write_reference(workload, ref)
    return {
        "module": "dlarena.frameworks.mxnet",
        "workload": workload.to_dict(),
        "tier": "eager",
        "mode": "infer",
        "threads": 2,
        "reference": str(ref),
        "warmup": 1,
        "repeats": 1,
        "min_repeat_s": 0.0,
    }


def test_a_worker_killed_mid_run_comes_back_with_its_signal():
    def kill_during_build(event, proc):
        if event.get("phase") == "build":
            proc.send_signal(signal.SIGKILL)

    python = envs.get("mxnet", envs.dlarena_home()).python
    outcome = launch(python, mxnet_infer_task("test-crash"), 120, kill_during_build)
    assert not outcome.ok and outcome.exit_code == -signal.SIGKILL
    assert outcome.reason == "worker exited with code -9 (killed by SIGKILL)"


def test_a_failing_worker_is_stored_with_its_stderr_and_the_matrix_goes_on(store, fast):
    # torch is sent to the MXNet environment, which has no torch: the worker fails on import.
    cells = mlp_cells(["torch", "onnxruntime"])
    run_id = run_matrix(store, cells, fast, {"torch": "mxnet"}, lambda c, r: None)
    failed, passed = store.cells(run_id)
    assert failed.status == "failed" and failed.exit_code == 1
    assert failed.reason == "ModuleNotFoundError: No module named 'torch'"
    assert "Traceback" in (failed.stderr_tail or "")
    assert passed.status == "ok" and passed.ranked


def test_a_hung_worker_is_killed_at_its_timeout(store, fast):
    slow = dataclasses.replace(fast, timeout_s=1.0)  # importing torch alone takes longer
    run_id = run_matrix(store, mlp_cells(["torch"]), slow, {}, lambda c, r: None)
    (cell,) = store.cells(run_id)
    assert cell.status == "failed"
    assert cell.reason.startswith("timed out after 1s in phase ")


def test_unknown_runtime_is_refused_before_anything_runs():
    from dlarena.errors import DlarenaError

    with pytest.raises(DlarenaError, match="unknown runtime 'pytorch'; choose from torch"):
        mlp_cells(["pytorch"])


def test_the_gate_fails_a_cell_whose_math_differs(store, fast, monkeypatch):
    """A reference made with a different bias stands in for a framework that got one wrong."""
    import numpy as np

    from dlarena.runner import matrix

    original = matrix.write_reference

    def shifted_reference(workload, path):
        original(workload, path)
        with np.load(path) as data:
            arrays = dict(data)
        arrays["logits"] = arrays["logits"] + 0.01 * np.abs(arrays["logits"]).max()
        np.savez(path, **arrays)

    monkeypatch.setattr(matrix, "write_reference", shifted_reference)
    run_id = run_matrix(store, mlp_cells(["onnxruntime"]), fast, {}, lambda c, r: None)
    (cell,) = store.cells(run_id)
    assert cell.status == "ok" and cell.parity_passed is False and not cell.ranked
    assert cell.parity[0]["max_rel"] == pytest.approx(0.01, rel=0.02)
