"""Statistics over timing samples: the median's confidence interval and the cell summary."""

from __future__ import annotations

import numpy as np
import pytest

from dlarena.measure.stats import UNSTABLE_CV, median_ci, summarize


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


def test_summarize_gives_throughput_percentiles_and_flags_unstable_repeats() -> None:
    summary = summarize([[0.001] * 3, [0.002] * 3], batch_size=64)
    assert (summary.calls, summary.repeats) == (6, 2)
    assert summary.median_ms == pytest.approx(1.5)
    assert summary.samples_per_s == pytest.approx(64 / 0.0015)
    assert summary.p50_ms == pytest.approx(1.5) and summary.p99_ms == pytest.approx(2.0)
    assert summary.repeat_cv == pytest.approx(0.5 / 1.5)
    assert summary.unstable and summary.repeat_cv > UNSTABLE_CV


def test_summarize_of_steady_repeats_is_stable() -> None:
    summary = summarize([[0.010, 0.011, 0.009]] * 3, batch_size=32)
    assert summary.repeat_cv == 0.0 and not summary.unstable
    assert summary.ci_low_ms <= summary.median_ms <= summary.ci_high_ms
