"""Paired isolation: the cells of a group run as live workers side by side and take turns."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from dlarena.measure.stats import compare_cells
from dlarena.runner import envs
from dlarena.runner.matrix import plan, run_matrix
from dlarena.spec.loader import load_workload

from .test_workers import fake_runtime  # noqa: F401 (a fixture)

HOME = envs.dlarena_home()
pytestmark = pytest.mark.slow  # real worker processes


def test_a_group_takes_turns_and_every_block_names_its_round(store, fast):
    protocol = dataclasses.replace(fast, isolation="paired", processes=2, blocks=4, latency_s=0.05)
    cells = plan([load_workload("mlp", "tiny")], ["onnxruntime", "torch"], ["eager"], ["infer"])
    seen = []
    run_id = run_matrix(store, cells, protocol, HOME, {}, lambda c, r: seen.append(c.runtime))
    assert seen == ["onnxruntime", "torch"] * 2  # a group's cells come together, per process
    ort, torch = store.cells(run_id, raw=True)
    for cell in (ort, torch):
        assert cell.ranked and cell.summary is not None and cell.summary.processes == 2
        # each round in a shuffled order and back: two blocks of every cell per round
        assert sorted((b.process, b.round) for b in cell.blocks) == [
            (p, r) for p in range(2) for r in range(4) for _ in range(2)
        ]
        assert {size for size, _ in cell.latency} == {1, cells[0].workload.batch_size}
        assert len(cell.load) == 2 and all(load.probe_gflops for load in cell.load)
        stages = dict(cell.phases.stages)
        assert stages["timed"] > 0 and stages["start"] > 0 and "reruns" not in stages
    paired = compare_cells(ort, torch)
    assert paired.paired and paired.processes == 2
    assert paired.ci_low <= paired.ratio <= paired.ci_high
    assert store.run_info(run_id)["config"]["protocol"]["isolation"] == "paired"


def test_a_worker_that_dies_or_hangs_fails_its_own_cell_and_the_group_goes_on(
    store, fast, fake_runtime  # noqa: F811
):
    protocol = dataclasses.replace(fast, isolation="paired", blocks=8, timeout_s=10.0)
    names = [fake_runtime(name) for name in ("base", "tired", "sleepy")]
    cells = plan([load_workload("mlp", "tiny")], names, ["eager"], ["infer"])
    run_id = run_matrix(store, cells, protocol, HOME, {}, print)
    steady, tired, sleepy = store.cells(run_id, raw=True)
    assert steady.ranked and sorted(b.round for b in steady.blocks) == sorted(list(range(8)) * 2)
    assert tired.status == "failed" and tired.exit_code == -signal.SIGKILL
    assert tired.reason == "worker exited with code -9 (killed by SIGKILL)"
    assert sleepy.status == "failed" and sleepy.reason == "timed out after 10s in phase 'build'"
