"""Paired isolation: the cells of a group run as live workers side by side and take turns."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from dlarena.measure.stats import compare_cells
from dlarena.runner import envs
from dlarena.runner.matrix import plan, run_matrix
from dlarena.runner.paired import MORE_ROUNDS
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
    assert store.run_info(run_id).config.protocol.isolation == "paired"


def test_a_worker_that_dies_or_hangs_fails_its_own_cell_and_the_group_goes_on(
    store,
    fast,
    fake_runtime,  # noqa: F811
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


@pytest.mark.parametrize("paired_s", [1e-6, 0.3, 1e6])
def test_short_turns_take_more_rounds_until_each_worker_timed_its_seconds(
    store,
    fast,
    fake_runtime,  # noqa: F811
    paired_s,
):
    protocol = dataclasses.replace(fast, isolation="paired", blocks=2, paired_s=paired_s)
    names = [fake_runtime(name) for name in ("base", "chatty")]
    run_id = run_matrix(store, plan([load_workload("mlp", "tiny")], names, ["eager"], ["infer"]),
                        protocol, HOME, {}, print)  # fmt: skip
    cells = store.cells(run_id, raw=True)
    rounds = len({b.round for cell in cells for b in cell.blocks})
    for cell in cells:  # every cell took its two turns in every round
        assert sorted(b.round for b in cell.blocks) == sorted(list(range(rounds)) * 2)

    def timed(before: int) -> float:  # the least seconds a worker had timed before that round
        return min(sum(b.seconds for b in c.blocks if b.round < before) for c in cells)

    most = MORE_ROUNDS * protocol.blocks
    if paired_s == 1e-6:  # every worker had its seconds after the protocol's rounds
        assert rounds == protocol.blocks
    if paired_s == 1e6:  # none ever has them: the most rounds it may take
        assert rounds == most
    if rounds > protocol.blocks:  # each round past the protocol's began short of the seconds
        assert timed(rounds - 1) < paired_s
    assert rounds == most or timed(rounds) >= paired_s  # and it stopped once none was short
