"""Statistics over timing samples (host side): medians, confidence intervals, percentiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from dlarena.records import TimingSummary

UNSTABLE_CV = 0.10  # repeat-to-repeat variation above this earns a stability warning


def median_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median, from binomial order statistics."""
    ordered = np.sort(values)
    n = len(ordered)
    if n < 3:
        return float(ordered[0]), float(ordered[-1])
    low = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))
    high = int(stats.binom.isf((1 - confidence) / 2, n, 0.5))
    return float(ordered[max(low - 1, 0)]), float(ordered[min(high, n - 1)])


def summarize(samples: Sequence[Sequence[float]], batch_size: int) -> TimingSummary:
    """Median step time with its CI, latency percentiles, throughput and a stability flag."""
    calls = np.concatenate([np.asarray(s, np.float64) for s in samples])
    repeat_medians = np.array([np.median(s) for s in samples])
    median_s = float(np.median(calls))
    ci_low, ci_high = median_ci(calls)
    cv = float(np.std(repeat_medians) / np.mean(repeat_medians)) if len(samples) > 1 else 0.0
    p50, p90, p99 = (float(v) * 1e3 for v in np.percentile(calls, [50, 90, 99]))
    return TimingSummary(
        calls=int(calls.size),
        repeats=len(samples),
        median_ms=median_s * 1e3,
        ci_low_ms=ci_low * 1e3,
        ci_high_ms=ci_high * 1e3,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        samples_per_s=batch_size / median_s,
        repeat_cv=cv,
        unstable=cv > UNSTABLE_CV,
    )
