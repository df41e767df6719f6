"""Statistics over timing samples: the median's confidence interval and the cell summary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from dlarena.frameworks import RUNTIMES
from dlarena.measure.pairs import api_tax
from dlarena.measure.stats import (
    MEASURED_SPREAD,
    UNSTABLE_CV,
    compare_cells,
    compare_throughput,
    median_ci,
    promised_spread,
    stability_warnings,
    summarize,
)
from dlarena.records import Block, CellResult, ParityCheck
from dlarena.spec.loader import load_workload


def test_median_ci_picks_the_binomial_order_statistics() -> None:
    # n = 10: the 2.5% and 97.5% binomial quantiles are 2 and 8, so the 2nd and 9th values.
    assert median_ci(np.arange(1.0, 11.0)) == (2.0, 9.0)
    assert median_ci(np.array([5.0, 3.0])) == (3.0, 5.0)  # too few: the whole range


def test_median_ci_covers_the_true_median_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    true_median = np.log(2)  # of the exponential distribution with rate 1
    hits = [
        low <= true_median <= high
        for low, high in (median_ci(rng.exponential(size=25)) for _ in range(2000))
    ]
    assert 0.93 <= np.mean(hits) <= 0.99


def blocks(*step_ms: float, process: int = 0, steps: int = 10) -> list[Block]:
    return [Block(process, steps, ms * steps / 1e3) for ms in step_ms]


def test_summarize_pools_blocks_of_every_process_and_flags_the_spread() -> None:
    summary_blocks = blocks(1, 1, 1) + blocks(2, 2, 2, process=1)
    summary = summarize(summary_blocks, 64, [(1, [0.001] * 99 + [0.005])])
    assert (summary.blocks, summary.processes, summary.steps) == (6, 2, 60)
    assert summary.median_ms == pytest.approx(1.5)
    assert summary.samples_per_s == pytest.approx(64 / 0.0015)
    assert summary.block_cv == pytest.approx(0.5 / 1.5)
    assert summary.process_cv == pytest.approx(0.5 / 1.5)
    latency = summary.latency_at(1)
    assert latency is not None and latency.calls == 100 and latency.p50_ms == pytest.approx(1.0)
    assert latency.mean_ms == pytest.approx(1.04)
    assert [w.split(":")[0] for w in stability_warnings(summary, summary_blocks)] == [
        "unstable",
        "unstable",
    ]
    spiky = blocks(1, 1, 1, 1, 1, 1, 1, 1, 1, 3)
    codes = [w.split(":")[0] for w in stability_warnings(summarize(spiky, 64), spiky)]
    assert codes == ["unstable", "outlier"]


def test_steady_blocks_earn_no_warning_and_a_tight_interval() -> None:
    steady = blocks(10.0, 10.1, 9.9, 10.0, 10.05, 9.95)
    summary = summarize(steady, batch_size=32)
    assert summary.block_cv < UNSTABLE_CV and stability_warnings(summary, steady) == []
    assert summary.ci_low_ms <= summary.median_ms <= summary.ci_high_ms
    assert summary.samples_per_s_low <= summary.samples_per_s <= summary.samples_per_s_high
    assert "few_samples" in stability_warnings(summarize(steady[:2], 32), steady[:2])[0]


def test_a_faster_claim_needs_a_significant_difference() -> None:
    rng = np.random.default_rng(0)
    faster = compare_throughput(
        [rng.normal(105, 2, 10) for _ in range(3)], [rng.normal(100, 2, 10) for _ in range(3)]
    )
    assert faster.verdict == "faster" and faster.ci_low > 1.0 and faster.p_value < 0.05
    assert faster.claim("jax", "torch").startswith(f"jax is {faster.ratio:.2f}x as fast as torch")
    assert faster.processes == 3 and "not counted" not in faster.claim("jax", "torch")
    same = compare_throughput([rng.normal(100, 2, 30)], [rng.normal(100, 2, 30)])
    assert same.verdict == "no significant difference"
    assert same.claim("jax", "torch").startswith("jax vs torch: no significant difference")
    assert "one worker process a side" in same.claim("jax", "torch")
    assert compare_throughput([], [[100.0, 101.0]]).verdict == "no significant difference"


def test_processes_that_disagree_leave_a_difference_unproven_however_many_blocks() -> None:
    rng = np.random.default_rng(1)
    # Each process's blocks agree (1%), but whole processes land 10% apart, as seen here.
    a = [rng.normal(level, 1.0, 30) for level in (95.0, 105.0, 112.0)]
    b = [rng.normal(level, 1.0, 30) for level in (90.0, 100.0, 108.0)]
    blocks_alone = stats.mannwhitneyu(np.concatenate(a), np.concatenate(b))
    assert blocks_alone.pvalue < 0.05  # 90 blocks a side: counted as independent, "faster"
    found = compare_throughput(a, b)
    assert found.ratio == pytest.approx(1.05, abs=0.01)
    assert found.ci_low < 1.0 < found.ci_high and found.verdict == "no significant difference"


def test_blocks_timed_turn_about_are_not_called_unstable_for_the_machines_swings() -> None:
    swings = [Block(0, 10, ms * 10 / 1e3, round=r) for r, ms in enumerate((1.0, 1.6, 0.9, 1.4))]
    swings += [Block(1, 10, ms * 10 / 1e3, round=r) for r, ms in enumerate((1.1, 1.5, 1.0, 2.2))]
    summary = summarize(swings, 64)
    assert summary.block_cv > UNSTABLE_CV
    assert stability_warnings(summary, swings) == []
    unpaired = [dataclasses.replace(b, round=None) for b in swings]
    codes = {w.split(":")[0] for w in stability_warnings(summarize(unpaired, 64), unpaired)}
    assert codes == {"unstable", "outlier"}
    far = swings + [Block(2, 10, 0.03, round=r) for r in range(4)]  # a whole process at 3 ms
    assert [w.split(":")[0] for w in stability_warnings(summarize(far, 64), far)] == ["unstable"]


def test_one_slow_worker_process_in_three_moves_nothing() -> None:
    steady = blocks(1.0, 1.0, 1.0) + blocks(1.0, 1.0, 1.0, process=1)
    slow = blocks(1.5, 1.5, 1.5, process=2)  # the whole process landed badly
    summary = summarize(steady + slow, batch_size=64)
    assert summary.median_ms == pytest.approx(1.0) and summary.processes == 3
    assert summary.ci_low_ms <= summary.median_ms <= summary.ci_high_ms
    assert any(
        w.startswith("unstable: process-to-process")
        for w in stability_warnings(summary, steady + slow)
    )


def test_every_process_count_states_the_spread_measured_for_its_profile() -> None:
    quick, default = MEASURED_SPREAD["process", 1]["cell"], MEASURED_SPREAD["process", 3]["cell"]
    assert quick[0] > default[0]  # more processes per cell: steadier figures
    assert promised_spread(1).startswith("spread: process isolation, 1 worker process per cell")
    assert f"a median {quick[0]:.1%} (worst {quick[1]:.1%})" in promised_spread(2)
    assert f"a median {default[0]:.1%} (worst {default[1]:.1%})" in promised_spread(3)
    assert promised_spread(5).startswith("spread: process isolation, 3+ worker processes")
    ratio, cell = MEASURED_SPREAD["paired", 3]["ratio"], MEASURED_SPREAD["paired", 3]["cell"]
    assert ratio[0] < cell[0]  # turn about: ratios hold where the machine moves every cell
    paired = promised_spread(3, "paired")
    assert f"each throughput ratio within a group by a median {ratio[0]:.1%}" in paired
    assert f"each cell's throughput by a median {cell[0]:.1%} (worst {cell[1]:.1%})" in paired
    assert "not yet measured" in promised_spread(1, "other")  # an isolation never measured


def variant_cell(runtime: str, step_ms: float, passed: bool = True) -> CellResult:
    workload = load_workload("mlp")
    steps = blocks(*(step_ms * (1 + 0.01 * i) for i in range(6)))
    return CellResult(
        workload="mlp",
        runtime=runtime,
        tier="compiled",
        mode="train",
        status="ok",
        spec=workload.canonical_json(),
        spec_hash=workload.content_hash,
        api=RUNTIMES[runtime].api,
        parity=(ParityCheck("loss", 0.0, 0.0, 1e-5, passed),),
        summary=summarize(steps, workload.batch_size, []),
        blocks=tuple(steps),
    )


def test_api_tax_pairs_each_raw_variant_with_its_library_cell_in_the_same_run() -> None:
    cells = [
        variant_cell("jax", 2.0),
        variant_cell("jax-raw", 1.0),  # twice as fast: the library costs half the speed
        variant_cell("tensorflow-raw", 1.0),  # no Keras cell to set it against
        variant_cell("torch", 1.0),  # not a variant
    ]
    (row,) = api_tax(cells)
    assert (row.raw, row.library) == ("jax-raw (jax.numpy)", "jax (flax.linen)")
    assert row.raw_over_library == pytest.approx(2.0, rel=0.01)
    assert row.verdict == "faster" and row.p_value < 0.05
    # A raw cell that failed parity is never set against anything.
    assert api_tax([variant_cell("jax", 2.0), variant_cell("jax-raw", 1.0, passed=False)]) == []


def drifting(speed_a: float, speed_b: float, run_id: int = 1) -> tuple[CellResult, CellResult]:
    """Two cells measured turn about on a machine whose speed swings 2x from round to round
    (each block also has 1% noise of its own): A's true speed over B's is speed_a / speed_b."""
    rng = np.random.default_rng(7)
    machine = rng.uniform(0.5, 1.0, (3, 10))  # per process and round
    made = []
    for speed in (speed_a, speed_b):
        step_s = 1e-3 / (speed * machine * rng.normal(1.0, 0.01, machine.shape))
        timed = tuple(
            Block(p, 100, float(step_s[p, r]) * 100, round=r) for p in range(3) for r in range(10)
        )
        made.append(CellResult("mlp", "x", "compiled", "train", "ok", blocks=timed, run_id=run_id))
    return made[0], made[1]


def test_paired_rounds_see_through_a_drifting_machine_that_hides_the_difference() -> None:
    a, b = drifting(1.05, 1.0)
    paired = compare_cells(a, b)
    assert paired.paired and paired.ratio == pytest.approx(1.05, rel=0.01)
    assert 1.0 < paired.ci_low <= paired.ci_high < 1.07 and paired.verdict == "faster"
    assert "paired rounds" in paired.claim("a", "b")
    # the same blocks without their rounds: the machine's swings drown the 5%
    unpaired = compare_throughput(
        [[64 / x.step_s for x in a.blocks if x.process == p] for p in range(3)],
        [[64 / x.step_s for x in b.blocks if x.process == p] for p in range(3)],
    )
    assert not unpaired.paired and unpaired.verdict == "no significant difference"
    assert unpaired.ci_high - unpaired.ci_low > 10 * (paired.ci_high - paired.ci_low)


def test_cells_of_two_runs_never_pair_their_rounds() -> None:
    a, _ = drifting(1.05, 1.0, run_id=1)
    _, b = drifting(1.05, 1.0, run_id=2)
    assert not compare_cells(a, b).paired


@pytest.mark.parametrize("seed", range(40))
def test_a_p_value_never_contradicts_its_interval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shift = rng.uniform(0.97, 1.03)
    a = [rng.normal(100 * shift, 3, 8) for _ in range(rng.integers(1, 4))]
    b = [rng.normal(100, 3, 8) for _ in range(rng.integers(1, 4))]
    found = compare_throughput(a, b)
    excludes_one = not found.ci_low <= 1.0 <= found.ci_high
    assert excludes_one == (found.p_value < 0.05) == (found.verdict != "no significant difference")


def test_a_paired_turn_of_long_steps_needs_no_ten_of_them() -> None:
    from dlarena.measure.timing import block_steps

    assert block_steps(0.002, 0.2, 10) == 100  # a process run's block: 0.2 s
    assert block_steps(0.002, 0.05, 10, steps_within_s=0.2) == 25  # a turn: 0.05 s
    assert block_steps(0.015, 0.05, 10, steps_within_s=0.2) == 10  # ten fit in 0.2 s
    assert block_steps(0.25, 0.05, 10, steps_within_s=0.2) == 1  # a transformer step
    assert block_steps(0.25, 0.2, 10) == 10  # alone: ten steps, as before


def test_long_steps_are_sized_from_the_warm_up_and_short_ones_by_a_trial_block() -> None:
    """A trial block of ten steps only tells something the warm-up did not where a step is so
    short that its synchronization counts; a transformer's cost 2 s of warm-up."""
    from dlarena.measure.timing import LONG_STEP_S, calibrate

    calls: list[int] = []

    def step(batch: int) -> int:
        calls.append(batch)
        return batch

    sized = calibrate(step, lambda _: None, [0], 0.05, 10, False, 0.2, warmup_s=[0.26, 0.25])
    assert sized == 1 and calls == []  # block_steps(0.25, ...): one step, no trial block
    short = [LONG_STEP_S / 2] * 3
    calibrate(step, lambda _: None, [0], 0.05, 10, False, 0.2, warmup_s=short)
    assert len(calls) == 10  # the trial block ran
