"""Data-parallel scaling with each framework's own machinery, on this machine's CPUs."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlarena.scale import run
from dlarena.scale.records import ScaleRecord
from dlarena.store import Store

from .test_cli import dlarena

FRAMEWORKS = (  # the scenarios: N processes, or one process over N devices
    "torch", "tensorflow", "tensorflow-mirrored", "jax", "jax-devices", "mxnet", "mxnet-local",
)  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scale") / "s.sqlite"


@pytest.fixture(scope="module")
def scaled(store: Path) -> dict[str, dict[int, dict]]:
    """Every framework on one and two workers: tiny mlp, a few steps (behaviour, not speed)."""
    result = dlarena(
        "scale", "--workers", "1", "--workers", "2", "--workload", "mlp", "--size", "tiny",
        "--steps", "3", "--timeout", "240", "--store", str(store), "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows: dict[str, dict[int, dict]] = {}
    for row in json.loads(result.stdout):
        rows.setdefault(row["framework"], {})[row["workers"]] = row
    db = Store(store, create=False)
    stored = db.probes("scale", ScaleRecord)
    db.close()
    assert {(r.framework, r.workers) for r in stored} == {
        (f, n) for f in FRAMEWORKS for n in (1, 2)
    }
    assert all(r.id and r.identical and len(r.digests) == 1 for r in stored)
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_replicas_stay_identical_on_one_and_two_workers(scaled: dict, framework: str) -> None:
    rows = scaled[framework]
    assert set(rows) == {1, 2}
    for row in rows.values():
        assert row["identical"] and len(row["digests"]) == 1 and row["status"] == "works", row
        assert row["samples_per_s"] > 0 and row["independent_samples_per_s"] > 0
    # efficiency: N workers' samples/s over N times one worker's, each measured in its own run
    assert rows[2]["efficiency"] == pytest.approx(
        rows[2]["samples_per_s"] / (2 * rows[1]["samples_per_s"])
    )
    assert rows[2]["of_ceiling"] == pytest.approx(
        rows[2]["samples_per_s"] / rows[2]["independent_samples_per_s"]
    )
    # two replicas trained on two shards end elsewhere than one trained on one
    assert rows[2]["digests"] != rows[1]["digests"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", (1, 2))
def test_every_framework_averages_the_gradients_over_the_global_batch(
    scaled: dict, workers: int
) -> None:
    """The same canonical weights, shards and optimizer move the parameters equally far in every
    framework: a gradient summed over the workers instead of averaged (Keras 3's optimizer, a
    kvstore rescaled by the local batch) moves them about twice as far."""
    norms = {f: scaled[f][workers]["update_norm"] for f in FRAMEWORKS}
    assert all(norm > 0 for norm in norms.values()), norms
    assert max(norms.values()) / min(norms.values()) - 1 < 1e-3, norms


@pytest.mark.slow
def test_the_report_draws_the_scaling_chart_and_table(
    scaled: dict, store: Path, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    result = dlarena("report", "--store", str(store), "--output", str(page))
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert 'id="chart-scaling"' in html and "No scaling run yet" not in html
    markdown = page.with_suffix(".md").read_text()
    for framework in FRAMEWORKS:
        assert scaled[framework][2]["mechanism"] in markdown
    assert markdown.count("| identical |") == 2 * len(FRAMEWORKS)


def test_a_framework_without_a_scenario_is_named(tmp_path: Path) -> None:
    result = dlarena("scale", "--framework", "onnxruntime", "--store", str(tmp_path / "s"))
    assert result.returncode == 2 and "no scaling scenario for onnxruntime" in result.stderr


def test_a_scenario_not_written_for_gpus_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = dlarena(
        "scale", "--framework", "torch", "--framework", "jax", "--device", "gpu",
        "--store", str(tmp_path / "s"),
    )  # fmt: skip
    assert result.returncode == 2 and "no GPU scaling scenario for jax" in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_worker_exits_after_its_result_even_when_leaving_the_group_hangs() -> None:
    """torch's process group once waited forever in its destructor after the result was written:
    the worker leaves, gives the goodbye a grace period, and exits 0 without destructors."""
    hanging = (
        "import time\n"
        "from dlarena.scale.worker import leave\n"
        "class Replica:\n"
        "    def close(self): time.sleep(120)\n"
        "leave(Replica(), grace_s=1)\n"
    )
    done = subprocess.run([sys.executable, "-c", hanging], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr


def test_a_stuck_worker_writes_its_stacks_before_it_is_stopped(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        sleeper = "import sys, time; print('asleep', file=sys.stderr, flush=True); time.sleep(120)"
        stuck = run._start(stack, sys.executable, ["-c", sleeper], {})
        deadline = time.monotonic() + 60
        while "asleep" not in stuck.tail():  # faulthandler is on once Python runs the code
            assert time.monotonic() < deadline, stuck.tail()
            time.sleep(0.05)
        stuck.dump()
        assert stuck.proc.returncode not in (None, 0)
        stacks = stuck.tail(4000)
        assert "Current thread" in stacks and 'File "<string>", line 1' in stacks
