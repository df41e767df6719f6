"""Real worker processes: failures become failed cells with their reasons, the run goes on."""

from __future__ import annotations

import dataclasses
import functools
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dlarena.frameworks import DECLARED, RUNTIMES, Runtime
from dlarena.records import WorkerTask
from dlarena.runner import envs, making
from dlarena.runner.checker import check_parity
from dlarena.runner.launcher import launch
from dlarena.runner.matrix import plan, run_matrix, write_reference
from dlarena.runner.process import scratch_dir, worker_env
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


AUTOGRAPHED = """
import os
import tensorflow as tf

@tf.function
def clipped(x):
    if x > 0:
        x = x - 1
    return x

clipped(tf.constant(2))
os._exit(0)  # as a scale-out worker ends, or a killed one: no atexit to remove the file
"""


def test_workers_write_temporary_files_in_a_folder_the_host_removes(tmp_path):
    """TensorFlow's autograph writes a source file per converted function in the temporary
    folder and removes it at exit, which a killed worker or one ending with os._exit (as the
    scale-out workers do) never reaches: a worker's land in the host's scratch folder, which
    goes when the host exits, not in the system's."""
    autograph = "__autograph_generated_file*"
    before = set(Path(tempfile.gettempdir()).glob(autograph))
    (tmp_path / "autographed.py").write_text(AUTOGRAPHED)  # autograph reads the source file
    python = envs.get("main", HOME).python
    subprocess.run([python, tmp_path / "autographed.py"], env=worker_env(fair(1)), check=True)
    assert set(Path(tempfile.gettempdir()).glob(autograph)) == before
    assert list(Path(scratch_dir()).glob(autograph))
    host = "from dlarena.runner.process import scratch_dir; print(scratch_dir())"
    done = subprocess.run([sys.executable, "-c", host], capture_output=True, text=True, check=True)
    assert done.stdout.strip().startswith(tempfile.gettempdir())
    assert not Path(done.stdout.strip()).exists()


TORCH_KEEPS = (
    "import os; from torch._inductor.runtime.cache_dir_utils import default_cache_dir; "
    "print(os.path.realpath(default_cache_dir()))"
)


def test_a_worker_finds_what_torch_compile_keeps_where_a_plain_script_does():
    """torch.compile keeps its precompiled headers for later runs in the temporary folder's
    torchinductor_USER, whatever TORCHINDUCTOR_CACHE_DIR says: a worker, whose temporary
    folder is its host's scratch folder, reaches the folder a plain script reaches, and the
    scratch folder goes at the host's exit without it."""
    python = envs.get("main", HOME).python
    run = functools.partial(subprocess.run, capture_output=True, text=True, check=True)
    plain = run([python, "-c", TORCH_KEEPS]).stdout.strip()
    assert run([python, "-c", TORCH_KEEPS], env=worker_env(fair(1))).stdout.strip() == plain
    host = "from dlarena.runner.process import scratch_dir; print(scratch_dir())"
    scratch = run([sys.executable, "-c", host]).stdout.strip()
    assert not Path(scratch).exists()
    assert Path(plain).is_dir()


def test_a_worker_imports_its_framework_alone_and_keeps_its_bytecode(monkeypatch) -> None:
    """A TensorFlow process, whichever of its modules it starts from (a bench worker's adapter,
    a scaling worker's module), imports TensorFlow without JAX (tf.lite imports it when it is
    installed beside), and JAX stays importable; a worker writes bytecode whatever the host's
    environment says."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    code = (
        "import importlib, importlib.util, sys; from dlarena import twin; "
        "importlib.import_module(sys.argv[1]); "
        "adapter = twin.import_adapter('dlarena.frameworks.tensorflow.adapter'); "
        "adapter.configure(1, 1, 'cpu'); "
        "print('jax' not in sys.modules, 'tensorflow' in sys.modules, "
        "sys.dont_write_bytecode, importlib.util.find_spec('jax') is not None)"
    )
    python = envs.resolve("tensorflow", HOME, {}).python
    for first in ("dlarena.frameworks.tensorflow.adapter", "dlarena.frameworks.tensorflow.scale"):
        done = subprocess.run(
            [python, "-c", code, first], env=worker_env(fair(1)), capture_output=True, text=True
        )
        assert done.stdout.split() == ["True", "True", "False", "True"], done.stderr[-2000:]


def test_a_new_environment_gets_the_bytecode_of_what_its_workers_import(
    monkeypatch, tmp_path: Path
) -> None:
    """Made once at creation, not by every worker started side by side on it; where the host
    says not to write bytecode too. A module that does not import is said, not fatal: the
    modules after it in its process still get their bytecode."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "pycache"))  # a cold cache
    adapter = RUNTIMES["mxnet"].module
    said: list[str] = []
    with monkeypatch.context() as patched:
        patched.setattr(making, "import_groups", lambda name: [(adapter, "no_such_module", "wave")])
        making.write_bytecode(envs.get("mxnet", HOME), said.append)
    assert said == [
        "no_such_module does not import in env 'mxnet' yet: "
        "ModuleNotFoundError: No module named 'no_such_module'"
    ]
    written = {p.parent.name for p in (tmp_path / "pycache").rglob("*.pyc")}
    assert {"mxnet", "gluon", "dlarena"} <= written and len(written) > 20
    assert list((tmp_path / "pycache").rglob("wave.*.pyc"))
    said.clear()
    # the main environment's frameworks in a Python without them: each one's first module said
    embedded = envs.Environment("main", sys.executable, None)
    making.write_bytecode(embedded, said.append)
    modules = [g[0] for g in making.import_groups("main")]
    assert [line.split()[0] for line in said] == modules
    assert {RUNTIMES[r].module for r in ("torch", "tensorflow", "jax")} <= set(modules)
    assert all("does not import in env 'main' yet: ModuleNotFoundError" in s for s in said), said


def test_what_each_framework_imports_on_first_use_imports_in_its_environment() -> None:
    """The compiler and exporter modules whose bytecode an environment writes when it is made
    exist in the pinned versions (a renamed one would silently leave its bytecode to a measured
    first call): each bytecode process of the environments imports everything it names."""
    groups = making.import_groups("main")
    assert ("dlarena.frameworks.torch.adapter", *DECLARED["torch"].first_use) in groups
    said: list[str] = []
    for name in {r.default_env for r in RUNTIMES.values()}:
        making.write_bytecode(envs.get(name, HOME), said.append)
    assert not said


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
