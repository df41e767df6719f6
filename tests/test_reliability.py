"""Runs that survive their host: kill -9 leaves no orphan worker and a run that reads
'interrupted' and resumes into a complete run; exit codes say what happened."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dlarena.store import Store

from .conftest import SPECS

ROOT = Path(__file__).resolve().parents[1]
# A small matrix in the fake 'numpy' runtime: 2 workloads x 2 processes per cell, 4 processes
# stored one by one.
MATRIX = [
    *("--workload", "mlp", "--workload", str(SPECS / "kitchen.yaml")),
    *("--runtime", "numpy", "--mode", "infer", "--tier", "eager"),
    *("--quick", "--processes", "2"),
    *("--slow-reruns", "0"),  # behaviour, not speed: every process kept as measured
]
CELLS = 2
pytestmark = pytest.mark.slow  # real worker processes


def host(store: Path, *args: str, token: str = "", command: str = "bench") -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DLARENA_TEST_HOST": token,
        "GITHUB_TOKEN": "never-in-a-worker",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.host", command, *args, *("--store", str(store))],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def workers_of(token: str) -> list[int]:
    """Live processes started with this host's token in their environment."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if f"DLARENA_TEST_HOST={token}".encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def wait_gone(token: str, timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := workers_of(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_killed_runs_resume_into_complete_runs_three_times(tmp_path: Path) -> None:
    """The soak test: kill -9 the host while a worker measures, after 1, 2 and then 3 of its 4
    processes are stored, then resume, three times."""
    store_path = tmp_path / "soak.sqlite"
    for attempt, stored in enumerate((1, 2, 3)):
        token = uuid.uuid4().hex
        proc = host(store_path, *MATRIX, token=token)
        wait_for(functools.partial(measuring_after, store_path, stored, token, proc), proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert wait_gone(token) == [], "a worker outlived its killed host"
        db = Store(store_path)
        run = db.runs()[0]
        assert run.status == "interrupted", run.status
        resumed = host(store_path, "--resume", str(run.id), token=token)
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, (attempt, err[-2000:])
        cells = db.cells(run.id)
        assert len(cells) == CELLS, (attempt, [c.label for c in cells])
        assert all(c.ranked and c.summary and c.summary.processes >= 2 for c in cells)
        assert db.run_info(run.id).status == "finished"
        db.close()
    with sqlite3.connect(store_path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("SELECT count(*) FROM runs").fetchone() == (3,)


def measuring_after(path: Path, stored: int, token: str, proc: subprocess.Popen) -> bool:
    """The host's run has stored `stored` processes and one of its workers is running."""
    return processes_of_host(path, proc.pid) >= stored and any(
        p != proc.pid for p in workers_of(token)
    )


def wait_for(condition, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Until `condition()` holds; the host ending first, or the deadline, fails the test."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, f"the host ended first: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the host never got there"
        time.sleep(0.05)


def test_credentials_never_reach_a_worker(tmp_path: Path) -> None:
    from dlarena.records import Threading
    from dlarena.runner.process import worker_env

    os.environ["DLARENA_FAKE_API_KEY"] = "secret"
    try:
        env = worker_env(Threading("fair", 1, 1, (0,)))
    finally:
        del os.environ["DLARENA_FAKE_API_KEY"]
    assert "DLARENA_FAKE_API_KEY" not in env and "GITHUB_TOKEN" not in env
    assert env["OMP_NUM_THREADS"] == "1" and "PATH" in env


@pytest.mark.parametrize("runtime", ["numpy", "broken", "nosuch"])
def test_exit_code_says_whether_every_cell_passed(tmp_path: Path, runtime: str) -> None:
    args = ["--workload", "mlp", "--runtime", runtime, "--mode", "infer", "--tier", "eager"]
    proc = host(tmp_path / "s.sqlite", *args, "--quick")
    out, err = proc.communicate(timeout=300)
    if runtime == "numpy":
        assert proc.returncode == 0, err[-2000:]
        assert "numpy" in out  # piped output is whole: no '…' in the table
        assert "…" not in out
    elif runtime == "broken":
        assert proc.returncode == 1 and "1 of 1 cells failed" in err
    else:
        assert proc.returncode == 2 and "unknown runtime 'nosuch'" in err
        assert not (tmp_path / "s.sqlite").exists()  # an input error starts no run


def processes_of_host(path: Path, host_pid: int) -> int:
    """How many worker processes the run of the host `host_pid` has stored (a cell is rewritten
    after each of its processes): a plain reader with a short wait, looking again when a write
    holds the file."""
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=0.5)) as db:
            row = db.execute(
                "SELECT count(DISTINCT blocks.cell_id || ':' || blocks.process) FROM blocks "
                "JOIN cells ON cells.id = blocks.cell_id "
                "WHERE cells.run_id = (SELECT max(id) FROM runs WHERE host_pid = ?)",
                (host_pid,),
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0  # no schema yet, or a write in progress: look again


def test_ctrl_c_keeps_what_was_measured_and_prints_the_resume_command(tmp_path: Path) -> None:
    store_path, token = tmp_path / "s.sqlite", uuid.uuid4().hex
    proc = host(store_path, *MATRIX, token=token)
    # one process stored and the next one's worker measuring: the interrupt comes mid-run
    wait_for(functools.partial(measuring_after, store_path, 1, token, proc), proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "keeps" in err and f"dlarena bench --resume 1 --store {store_path}" in err
    assert "Traceback" not in err
    assert wait_gone(token) == []
    db = Store(store_path)
    assert db.run_info(1).status == "interrupted" and db.cells(1)


def test_ctrl_c_stops_every_parity_checker(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.host", "parity", "mlp", "--runtime", "sleepy"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "DLARENA_TEST_HOST": token},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:  # the checker is building its first model (and never will): interrupt it
        wait_for(lambda: any(p != proc.pid for p in workers_of(token)), proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:  # a host that did not stop is not left behind for the next test
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted: the parity checkers were stopped" in err and "Traceback" not in err
    assert wait_gone(token) == []
