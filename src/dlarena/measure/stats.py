"""Statistics over timing blocks (host side): medians with confidence intervals, spread,
stability warnings, and significance before any "faster" claim."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import stats

from dlarena.records import Block, CellResult, Latency, TimingSummary

UNSTABLE_CV = 0.10  # block-to-block variation above this earns a stability warning
OUTLIER = 0.5  # a block 50% away from the median: something else ran
MIN_BLOCKS = 5
ALPHA = 0.05
BOOTSTRAP = 2000  # resamples behind a ratio's confidence interval
# Run-to-run spread by isolation and worker processes per cell: the coefficient of variation over
# five back-to-back runs of mlp and cnn training on a 2-core cloud VM, as (median, worst) over
# each cell's throughput ("cell") and, paired, over each throughput ratio within a group
# ("ratio"). process: four frameworks, both tiers (16 cells); paired: four frameworks, compiled
# (8 cells, 12 ratios); paired with 3 processes: the worse of two such sets, a day apart.
# docs/measuring.md explains them ("Profiles").
MEASURED_SPREAD: dict[tuple[str, int], dict[str, tuple[float, float]]] = {
    ("process", 1): {"cell": (0.118, 0.231)},
    ("process", 3): {"cell": (0.051, 0.123)},
    ("paired", 1): {"ratio": (0.082, 0.163), "cell": (0.121, 0.333)},
    ("paired", 3): {"ratio": (0.023, 0.055), "cell": (0.048, 0.115)},
}


def promised_spread(processes: int, isolation: str = "process") -> str:
    """The run-to-run spread a run of `processes` worker processes per cell can promise."""
    known = [p for i, p in MEASURED_SPREAD if i == isolation and p <= processes]
    if not known:
        return (
            f"spread: not yet measured for {processes} worker process(es) per cell under "
            f"{isolation} isolation; run the same bench a few times and ask 'dlarena spread'"
        )
    measured = max(known)
    figures = MEASURED_SPREAD[isolation, measured]
    what = {"ratio": "each throughput ratio within a group", "cell": "each cell's throughput"}
    parts = [
        f"{what[kind]} by a median {median:.1%} (worst {worst:.1%})"
        for kind, (median, worst) in figures.items()
    ]
    many = "es" if measured > 1 else ""
    return (
        f"spread: {isolation} isolation, {measured}{'+' if processes > measured else ''} worker "
        f"process{many} per cell: five back-to-back runs on a 2-core cloud VM varied "
        f"{' and '.join(parts)}; read smaller differences between runs as noise, and ask "
        "'dlarena compare' for significance"
    )


def median_ci(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """Distribution-free confidence interval of the median, from binomial order statistics."""
    ordered = np.sort(np.asarray(values, np.float64))
    n = len(ordered)
    if n < 3:
        return float(ordered[0]), float(ordered[-1])
    low = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))
    high = int(stats.binom.isf((1 - confidence) / 2, n, 0.5))
    return float(ordered[max(low - 1, 0)]), float(ordered[min(high, n - 1)])


def _cv(values: np.ndarray) -> float:
    return float(np.std(values) / np.mean(values)) if len(values) > 1 else 0.0


def latency_summary(batch_size: int, seconds: Sequence[float]) -> Latency:
    ms = np.asarray(seconds, np.float64) * 1e3
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    return Latency(batch_size, int(ms.size), p50, p90, p99, float(ms.mean()))


def summarize(
    blocks: Sequence[Block],
    batch_size: int,
    latency: Sequence[tuple[int, Sequence[float]]] = (),
) -> TimingSummary:
    """Step time (median of the worker processes' medians), the CI of the median over every
    block, throughput and spread."""
    step_s = np.array([b.step_s for b in blocks])
    processes = sorted({b.process for b in blocks})
    process_medians = np.array(
        [np.median([b.step_s for b in blocks if b.process == p]) for p in processes]
    )
    # Worker processes are the independent units: blocks of one process share its placement
    # on the CPUs and its memory layout (seen here: whole processes 1.5x slower, no other load).
    # The median of the process medians lets one such process in three move nothing.
    median_s = float(np.median(process_medians))
    ci_low, ci_high = median_ci(step_s)
    ci_low, ci_high = min(ci_low, median_s), max(ci_high, median_s)
    return TimingSummary(
        median_ms=median_s * 1e3,
        ci_low_ms=ci_low * 1e3,
        ci_high_ms=ci_high * 1e3,
        samples_per_s=batch_size / median_s,
        samples_per_s_low=batch_size / ci_high,
        samples_per_s_high=batch_size / ci_low,
        blocks=len(blocks),
        processes=len(processes),
        steps=sum(b.steps for b in blocks),
        block_cv=_cv(step_s),
        process_cv=_cv(process_medians),
        latency=tuple(latency_summary(size, seconds) for size, seconds in latency),
    )


def stability_warnings(summary: TimingSummary, blocks: Sequence[Block]) -> list[str]:
    """pyperf-style warnings: spread, outlying blocks, too few blocks. Blocks timed turn about
    (paired isolation) are short and seconds apart, so they carry the machine's sub-second
    swings, which the pairing cancels: for them only the process-to-process spread and too few
    blocks are warned of."""
    warnings = []
    paired = any(b.round is not None for b in blocks)
    if summary.block_cv > UNSTABLE_CV and not paired:
        warnings.append(
            f"unstable: block-to-block CV {summary.block_cv:.1%} (over {UNSTABLE_CV:.0%})"
        )
    if summary.process_cv > UNSTABLE_CV:
        warnings.append(f"unstable: process-to-process CV {summary.process_cv:.1%}")
    step_ms = np.array([] if paired else [b.step_s for b in blocks]) * 1e3
    if step_ms.size and (step_ms.max() - summary.median_ms) / summary.median_ms > OUTLIER:
        warnings.append(
            f"outlier: slowest block {step_ms.max():.3g} ms/step against a median of "
            f"{summary.median_ms:.3g}"
        )
    if step_ms.size and (summary.median_ms - step_ms.min()) / summary.median_ms > OUTLIER:
        warnings.append(f"outlier: fastest block {step_ms.min():.3g} ms/step")
    if summary.blocks < MIN_BLOCKS:
        warnings.append(f"few_samples: {summary.blocks} blocks (fewer than {MIN_BLOCKS})")
    return warnings


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Throughput of A over B with its 95% CI and a two-sided p-value, both from one bootstrap
    (so the p-value and the interval always agree). Paired: from per-round ratios of blocks
    timed turn about (runner/paired.py, compare_paired); otherwise the ratio of the process
    medians' medians."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    processes: int = 0  # worker processes on the side with fewer
    paired: bool = False

    @property
    def verdict(self) -> str:
        if self.p_value >= ALPHA or self.ci_low <= 1.0 <= self.ci_high:
            return "no significant difference"
        return "faster" if self.ratio > 1 else "slower"

    def claim(self, a: str, b: str) -> str:
        """The only sentence dlarena prints about two throughputs."""
        basis = "paired rounds, " if self.paired else ""
        caveat = (
            "; one worker process a side, so the spread between processes is not counted"
            if self.processes == 1
            else ""
        )
        interval = f"95% CI {self.ci_low:.2f}-{self.ci_high:.2f}, {basis}p = {self.p_value:.2g}"
        if self.verdict == "no significant difference":
            return f"{a} vs {b}: no significant difference ({self.ratio:.2f}x, {interval}{caveat})"
        return f"{a} is {self.ratio:.2f}x as fast as {b} ({interval}{caveat})"


Processes = Sequence[Sequence[float]]  # per-block figures, grouped by worker process


def _medians(groups: list[np.ndarray]) -> float:
    return float(np.median([np.median(g) for g in groups]))


def _resampled_medians(groups: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """BOOTSTRAP draws of the median of process medians: processes drawn with replacement,
    then each drawn process's blocks drawn with replacement."""
    per_process = np.stack(
        [np.median(g[rng.integers(0, len(g), (BOOTSTRAP, len(g)))], axis=1) for g in groups]
    )  # (process, draw)
    drawn = rng.integers(0, len(groups), (BOOTSTRAP, len(groups)))
    return np.median(per_process[drawn, np.arange(BOOTSTRAP)[:, None]], axis=1)


def _from_draws(ratio: float, draws: np.ndarray, processes: int, paired: bool) -> Comparison:
    """The interval and the two-sided p-value (twice the share of draws on the far side of 1)
    from the same bootstrap draws of the ratio."""
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    p_value = min(1.0, 2 * min(float(np.mean(draws <= 1.0)), float(np.mean(draws >= 1.0))))
    return Comparison(ratio, float(low), float(high), p_value, processes, paired)


def compare_throughput(a: Processes, b: Processes) -> Comparison:
    """Compare two cells' per-block throughputs (samples/s), grouped by worker process;
    A/B > 1 means A is faster. Processes are the independent units: blocks of one process
    share its placement and memory layout, and whole processes land up to 10% apart, so the
    interval resamples processes first (a block-only interval would be overconfident)."""
    a_groups = [np.asarray(g, np.float64) for g in a if len(g)]
    b_groups = [np.asarray(g, np.float64) for g in b if len(g)]
    if not a_groups or not b_groups:  # a cell without blocks: nothing to compare
        return Comparison(float("nan"), 0.0, float("inf"), 1.0, 0)
    ratio = _medians(a_groups) / _medians(b_groups)
    processes = min(len(a_groups), len(b_groups))
    if sum(map(len, a_groups)) < 2 or sum(map(len, b_groups)) < 2:
        return Comparison(ratio, 0.0, float("inf"), 1.0, processes)
    rng = np.random.default_rng(0)
    draws = _resampled_medians(a_groups, rng) / _resampled_medians(b_groups, rng)
    return _from_draws(ratio, draws, processes, paired=False)


TRIM = 0.2  # the share of per-round ratios cut from each end before averaging


def compare_paired(ratios: Processes) -> Comparison:
    """A over B from per-round throughput ratios (A's blocks over B's blocks of the same round),
    grouped by worker process: per process the 20%-trimmed mean of the ratios' logs (a round
    one side spent in a slow stretch of its own is cut), the mean over processes, back from
    logs; its interval from a two-level bootstrap of the same (processes, then rounds). Over
    repeated runs on a 2-core VM this moved about a third less than the median of the
    processes' medians (docs/measuring.md)."""
    groups = [np.log(np.asarray(g, np.float64)) for g in ratios if len(g)]
    if sum(map(len, groups)) < 2:
        ratio = float(np.exp(np.mean([g.mean() for g in groups]))) if groups else float("nan")
        return Comparison(ratio, 0.0, float("inf"), 1.0, len(groups), paired=True)
    ratio = float(np.exp(np.mean([stats.trim_mean(g, TRIM) for g in groups])))
    rng = np.random.default_rng(0)
    per_process = np.stack(
        [stats.trim_mean(g[rng.integers(0, len(g), (BOOTSTRAP, len(g)))], TRIM, axis=1)
         for g in groups]
    )  # (process, draw)  # fmt: skip
    drawn = rng.integers(0, len(groups), (BOOTSTRAP, len(groups)))
    draws = np.exp(per_process[drawn, np.arange(BOOTSTRAP)[:, None]].mean(axis=1))
    return _from_draws(ratio, draws, len(groups), paired=True)


def paired_ratios(
    a: Sequence[Block], b: Sequence[Block], a_batch: int, b_batch: int
) -> list[list[float]]:
    """A's throughput over B's in every (process, round) both timed blocks in (all of each
    one's blocks of that round together), grouped by process; empty unless both were measured
    turn about in the same run."""
    ours, theirs = _per_round(a), _per_round(b)
    groups: dict[int, list[float]] = {}
    for (process, round), step_s in sorted(ours.items()):
        if (process, round) in theirs:
            ratio = (a_batch / step_s) / (b_batch / theirs[process, round])
            groups.setdefault(process, []).append(ratio)
    return list(groups.values())


def _per_round(blocks: Sequence[Block]) -> dict[tuple[int, int], float]:
    """Seconds per step in each (process, round), over that round's blocks."""
    seconds: dict[tuple[int, int], list[float]] = {}
    for block in blocks:
        if block.round is not None:
            total = seconds.setdefault((block.process, block.round), [0.0, 0.0])
            total[0] += block.seconds
            total[1] += block.steps
    return {key: s / steps for key, (s, steps) in seconds.items()}


def process_throughputs(blocks: Sequence[Block], batch_size: int) -> list[list[float]]:
    """Samples/s of every block, grouped by the worker process that ran it."""
    groups: dict[int, list[float]] = {}
    for block in blocks:
        groups.setdefault(block.process, []).append(batch_size / block.step_s)
    return list(groups.values())


MIN_PAIRS = 3  # rounds two cells must share for their ratio to be read turn about


def compare_cells(a: CellResult, b: CellResult) -> Comparison:
    """A's throughput over B's (their blocks loaded): from the rounds they shared where both
    were measured turn about in one run (paired isolation), else from each one's own blocks."""
    a_batch, b_batch = a.batch_size or 1, b.batch_size or 1
    if a.run_id == b.run_id:
        pairs = paired_ratios(a.blocks, b.blocks, a_batch, b_batch)
        if sum(map(len, pairs)) >= MIN_PAIRS:
            return compare_paired(pairs)
    return compare_throughput(
        process_throughputs(a.blocks, a_batch), process_throughputs(b.blocks, b_batch)
    )
