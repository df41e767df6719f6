"""Past the envelope, across seeds: does a framework's final held-out accuracy differ from the
other frameworks' (same task and tier, paired by seed: a seed is the same initial weights and
order of batches everywhere)?"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy import stats

from dlarena.converge.records import ConvergeRecord

ALPHA = 0.05


def final_differences(records: Sequence[ConvergeRecord]) -> dict[tuple[str, str, str], str]:
    """(task, runtime, tier) -> how its final accuracy compares with the median of the other
    frameworks' in the same seeds: a paired t-test over the seeds (two at least)."""
    finals: dict[tuple[str, str], dict[str, dict[int, float]]] = {}
    for r in records:
        if r.final_accuracy is not None:
            by_seed = finals.setdefault((r.task, r.tier), {}).setdefault(r.framework, {})
            by_seed[r.seed] = r.final_accuracy
    found = {}
    for (task, tier), by_framework in finals.items():
        for framework, mine in by_framework.items():
            others = [acc for f, acc in by_framework.items() if f != framework]
            seeds = [s for s in sorted(mine) if others and all(s in o for o in others)]
            gaps = [mine[s] - statistics.median(o[s] for o in others) for s in seeds]
            found[(task, framework, tier)] = _verdict(gaps)
    return found


def _verdict(gaps: list[float]) -> str:
    if not gaps:
        return "-"
    if len(gaps) < 2:
        return f"{gaps[0]:+.1%} vs the others (one seed: not tested)"
    mean = statistics.fmean(gaps)
    if max(gaps) == min(gaps):  # no spread: a t-test has nothing to divide by
        return "the same in every seed" if mean == 0 else f"{mean:+.1%} in every seed"
    p = float(stats.ttest_1samp(gaps, 0.0).pvalue)
    if math.isnan(p) or p >= ALPHA:
        return f"no significant difference ({mean:+.1%}, p {p:.2g}, {len(gaps)} seeds)"
    return f"differs: {mean:+.1%} points (p {p:.2g}, {len(gaps)} seeds)"
