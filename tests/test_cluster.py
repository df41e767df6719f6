"""The matrix through a Dask distributed cluster (scheduler and worker on 127.0.0.1, started
here): the same cells, passing parity with the same figures, as on the local executor."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlarena.runner.process import free_port

from .test_cli import dlarena

pytestmark = pytest.mark.slow

MATRIX = (
    "--quick", "--workload", "mlp", "--size", "tiny", "--tier", "eager",
    "--runtime", "torch", "--runtime", "jax", "--runtime", "onnxruntime", "--format", "json",
    "--slow-reruns", "0",  # behaviour, not speed: every process kept as measured
)  # fmt: skip


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dask scheduler` and two Dask workers offering CPU=1 each (two cells at a time), as a team
    would start them."""
    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    commands = [
        ["dask_scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        ["dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "2",
         "--resources", "CPU=1", "--no-dashboard"],
    ]  # fmt: skip
    procs = []
    for argv in commands:
        with (logs / f"{argv[0]}.log").open("w") as log:
            cli = f"distributed.cli.{argv[0]}"
            procs.append(
                subprocess.Popen([sys.executable, "-m", cli, *argv[1:]], stdout=log, stderr=log)
            )
    worker_log = logs / "dask_worker.log"
    deadline = time.monotonic() + 120
    while worker_log.read_text().count("Registered to") < 2:  # both workers joined
        assert time.monotonic() < deadline, worker_log.read_text()[-2000:]
        time.sleep(0.5)
    yield address
    for proc in procs[::-1]:
        proc.terminate()
        proc.wait(timeout=60)


def cells(stdout: str) -> dict[tuple[str, str, str], dict]:
    return {(c["runtime"], c["tier"], c["mode"]): c for c in json.loads(stdout)["cells"]}


def test_the_quick_matrix_through_dask_matches_the_local_run(
    scheduler: str, tmp_path: Path
) -> None:
    local = dlarena("bench", *MATRIX, "--store", str(tmp_path / "local.sqlite"))
    remote = dlarena(
        "bench", *MATRIX, "--executor", "dask", "--scheduler", scheduler,
        "--store", str(tmp_path / "dask.sqlite"),
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    here, there = cells(local.stdout), cells(remote.stdout)
    assert set(here) == set(there) and len(here) == 5
    for key, cell in there.items():
        assert cell["status"] == "ok" and cell["parity"] == "pass", cell
        assert cell["samples_per_s"] > 0
        checks = {p["check"]: p["max_rel"] for p in cell["parity_checks"]}
        assert checks == {p["check"]: p["max_rel"] for p in here[key]["parity_checks"]}, key


def test_an_unreachable_scheduler_is_named(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    result = dlarena(
        "bench", *MATRIX, "--executor", "dask", "--scheduler", address,
        "--store", str(tmp_path / "s.sqlite"),
    )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr
    assert not (tmp_path / "s.sqlite").exists()  # an input error writes nothing
