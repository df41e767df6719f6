"""What a worker finds around it: its environment, made once with the bytecode of what it
imports; its temporary folder, which its host removes; and what torch.compile keeps for later
runs, where a plain script finds it."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dlarena.frameworks import DECLARED, RUNTIMES
from dlarena.runner import envs, making
from dlarena.runner.process import scratch_dir, worker_env
from dlarena.runner.threads import fair

HOME = envs.dlarena_home()
pytestmark = pytest.mark.slow  # real framework processes


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


KILLED_HOST = (
    "import os, signal; from dlarena.runner.process import scratch_dir; "
    "print(scratch_dir(), flush=True); os.kill(os.getpid(), signal.SIGKILL)"
)


def test_a_killed_hosts_scratch_folder_goes_with_the_next_host():
    """A host killed before its exit handlers run (SIGKILL, a crash) leaves its scratch folder
    behind; the next host removes it, and leaves the folders of hosts still running."""
    done = subprocess.run([sys.executable, "-c", KILLED_HOST], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = Path(done.stdout.strip())
    assert left.is_dir()
    running = Path(scratch_dir())  # this process's: its host is alive
    host = "from dlarena.runner.process import scratch_dir; print(scratch_dir())"
    subprocess.run([sys.executable, "-c", host], capture_output=True, check=True)
    assert not left.exists() and running.is_dir()


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
