"""Time to target as a performance ratio: from `dlarena converge` records, each framework's
seconds to the held-out target relative to the fastest framework's, per task and tier, paired by
seed (a seed is the same initial weights and order of batches in every framework)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy import stats

from dlarena.converge.records import ConvergeRecord
from dlarena.decide.profile import Profile

Ratio = tuple[str, float, str, float]  # group, ratio counted, how it reads, sd of its log


def target_ratios(records: Sequence[ConvergeRecord], profile: Profile) -> dict[str, list[Ratio]]:
    """Per framework, one ratio per (task, tier, target) that two or more frameworks trained
    and at least one reached: the best's seconds to target over its own (1.0 where the
    difference over seeds is not significant). A framework that missed the target in every seed
    counts as the best's seconds over all the seconds it trained: it was at most that fast."""
    groups: dict[tuple[str, str, float], dict[str, dict[int, ConvergeRecord]]] = {}
    for r in records:
        if r.status not in ("reached", "missed") or r.tier not in profile.tiers:
            continue
        if profile.workloads and r.task not in profile.workloads:
            continue
        groups.setdefault((r.task, r.tier, r.target), {}).setdefault(r.framework, {})[r.seed] = r
    ratios: dict[str, list[Ratio]] = {}
    for (task, tier, target), by_framework in groups.items():
        reached = {f: mine for f, runs in by_framework.items() if (mine := _seconds(runs))}
        if len(by_framework) < 2 or not reached:
            continue
        best = min(reached, key=lambda f: statistics.median(reached[f].values()))
        group = f"{task}/time to {target:g}/{tier}"
        for framework, runs in by_framework.items():
            ratio = _against(runs, by_framework[best], framework == best)
            ratios.setdefault(framework, []).append((group, *ratio))
    return ratios


def _seconds(runs: dict[int, ConvergeRecord]) -> dict[int, float]:
    """Seed -> seconds to target, of the seeds that reached it (a target met before the first
    step: a microsecond)."""
    return {
        s: max(r.seconds_to_target or 0.0, 1e-6) for s, r in runs.items() if r.status == "reached"
    }


def _trained_s(run: ConvergeRecord) -> float:
    return math.inf if run.trained_s is None else run.trained_s


def _against(
    runs: dict[int, ConvergeRecord], best: dict[int, ConvergeRecord], is_best: bool
) -> tuple[float, str, float]:
    if is_best:
        return 1.0, "the fastest to the target", 0.0
    mine, theirs = _seconds(runs), _seconds(best)
    if not mine:
        bound = statistics.median(theirs.values()) / statistics.median(
            map(_trained_s, runs.values())
        )
        seeds = f"{len(runs)} seed{'s' * (len(runs) > 1)}"
        return bound, f"missed the target ({seeds}): counted {bound:.2f}, at most", 0.0
    logs = [math.log(theirs[s] / mine[s]) for s in sorted(mine.keys() & theirs.keys())]
    missed = len(runs) - len(mine)
    note = f"; missed in {missed} of {len(runs)} seeds" if missed else ""
    if len(logs) < 2:
        ratio = (
            math.exp(logs[0]) if logs else statistics.median(theirs.values()) / min(mine.values())
        )
        return ratio, f"{ratio:.2f} of the fastest (one seed: significance unknown{note})", 0.0
    mean, sd = statistics.fmean(logs), statistics.stdev(logs) / math.sqrt(len(logs))
    half = stats.t.ppf(0.975, len(logs) - 1) * sd
    low, high, ratio = math.exp(mean - half), math.exp(mean + half), math.exp(mean)
    interval = f"CI {low:.2f}-{high:.2f} over {len(logs)} seeds{note}"
    if low <= 1.0 <= high:
        return (
            1.0,
            f"{ratio:.2f} of the fastest: no significant difference ({interval}), counted 1",
            sd,
        )
    return ratio, f"{ratio:.2f} of the fastest ({interval})", sd
