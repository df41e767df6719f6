"""Shared fixtures: real worker processes need the environments that `make test` creates."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dlarena.checker import compiled_programs_kept
from dlarena.runner import envs
from dlarena.runner.matrix import Protocol
from dlarena.runner.process import untimed_cache
from dlarena.store import Store

SPECS = Path(__file__).parent / "specs"

# One short measurement per cell: these tests check behaviour, never speed (so a process that
# ran in one of the machine's slow stretches is not run again).
FAST = Protocol(
    threads=2,
    processes=1,
    warmup=1,
    blocks=2,
    min_block_s=0.0,
    min_block_steps=2,
    latency_s=0.0,
    timeout_s=600.0,
    slow_reruns=0,
    peak_s=0.1,
    paired_s=0.0,
)


# The files that run the most framework code, longest first: `make test` has xdist hand whole
# files to its workers in this order (--no-loadscope-reorder), so the long ones start at once
# and the short ones fill in around them at the end. (By default xdist starts the files with
# the most tests first: the parity file, eight tests, started late and ran on alone.)
LONGEST_FIRST = (
    "test_parity.py", "test_converge.py", "test_probes.py", "test_import.py", "test_mixed.py",
    "test_cli.py", "test_measure.py", "test_scale.py", "test_reliability.py", "test_dashboard.py",
    "test_dashboard_load.py", "test_fidelity.py", "test_cluster.py", "test_paired.py",
    "test_workers.py", "test_worker_env.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


@pytest.fixture
def store(tmp_path: Path) -> Store:
    db = Store(tmp_path / "store.sqlite")
    yield db
    db.close()


@pytest.fixture
def fast() -> Protocol:
    return dataclasses.replace(FAST)


def _home_files() -> dict[str, float]:
    """Every file in the data folder outside the environments, with its modification time."""
    home = envs.dlarena_home()
    tops = [p for p in home.glob("*") if p.name != "envs"]  # environments (no home folder)
    found = [p for top in tops for p in (top, *(top.rglob("*") if top.is_dir() else ()))]
    return {str(p): p.stat().st_mtime for p in found if p.is_file()}


@pytest.fixture(autouse=True, scope="session")
def jax_compiles_each_program_once():
    """JAX compiles every op of an eager model on first use, in every new process: the suite's
    processes keep what they compile in the folder dlarena's parity checkers keep theirs in,
    across runs (tests check behaviour, never how fast a first call is). A machine's first run
    fills it: the parity checkers' JAX programs took 74 CPU-s to compile, 24 to load."""
    with pytest.MonkeyPatch.context() as patch:  # shared by xdist's workers and later runs
        for name, value in compiled_programs_kept(untimed_cache()).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(autouse=True, scope="session")
def data_folder_untouched():
    """Tests use the environments in the data folder and write only under tmp_path."""
    before = _home_files()
    yield
    assert _home_files() == before, "a test wrote into the data folder; use tmp_path"
