"""Health score, exclusion rules and abandonment risk, each from figures it names.

The health score follows OpenSSF's criticality_score: each signal is clamped to [0, U],
normalized as ln(1 + v) / ln(1 + U) (inverted where smaller is better), and the weighted mean
is taken over the signals present, then shown on 0-10.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from dlarena.evidence.snapshot import Figure

# signal -> (weight, upper threshold, smaller is better); from criticality_score original_pike
SIGNALS = {
    "created_since_months": (1.0, 120.0, False),
    "updated_since_months": (1.0, 120.0, True),
    "contributor_count": (2.0, 5000.0, False),
    "commit_frequency": (1.0, 1000.0, False),
    "recent_release_count": (0.5, 26.0, False),
}
PERMISSIVE = ("Apache-2.0", "BSD-3-Clause", "BSD-2-Clause", "MIT")


@dataclasses.dataclass(frozen=True)
class Finding:
    """A rule or signal with its verdict and the figure that decided it (None: not known)."""

    name: str
    verdict: str  # for rules: excluded | kept | unknown; for risk: high | medium
    detail: str
    figure: Figure | None


@dataclasses.dataclass(frozen=True)
class Assessment:
    health: float | None
    health_inputs: tuple[tuple[str, float, Figure], ...]
    exclusions: tuple[Finding, ...]
    risk_level: str
    risk_signals: tuple[Finding, ...]

    @property
    def excluded(self) -> bool:
        return any(rule.verdict == "excluded" for rule in self.exclusions)


Newest = Callable[..., Figure | None]


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value if len(value) == 10 else f"{value}-01")


def _months(since: str, today: dt.date) -> float:
    return (today - _date(since)).days / 30.44


def normalize(value: float, upper: float, inverted: bool) -> float:
    clamped = min(max(value, 0.0), upper)
    score = math.log1p(clamped) / math.log1p(upper)
    return 1.0 - score if inverted else score


def health_inputs(newest: Newest, today: dt.date) -> list[tuple[str, float, Figure]]:
    inputs = []
    if (f := newest("created")) is not None:
        inputs.append(("created_since_months", _months(f.value, today), f))
    if (f := newest("last_commit", "last_push")) is not None:
        inputs.append(("updated_since_months", _months(f.value, today), f))
    if (f := newest("contributors")) is not None:
        inputs.append(("contributor_count", float(f.value), f))
    if (f := newest("commits_per_week", "commits_last_year", "commits_per_week_low")) is not None:
        inputs.append(("commit_frequency", _per_week(f, newest), f))
    if (f := newest("releases_last_year", "pypi_releases_last_year")) is not None:
        inputs.append(("recent_release_count", float(f.value), f))
    elif (f := newest("last_release")) is not None and _months(f.value, today) > 12:
        inputs.append(("recent_release_count", 0.0, f))
    return inputs


def _per_week(figure: Figure, newest: Newest) -> float:
    if figure.metric == "commits_last_year":
        return float(figure.value) / (365 / 7)
    if figure.metric == "commits_per_week_low":  # the comparison gives a range: take its middle
        high = newest("commits_per_week_high")
        return (figure.value + (high.value if high else figure.value)) / 2
    return float(figure.value)


def health_score(inputs: list[tuple[str, float, Figure]]) -> float | None:
    if not inputs:
        return None
    weighted = [
        (SIGNALS[name][0], normalize(value, *SIGNALS[name][1:])) for name, value, _ in inputs
    ]
    return round(10 * sum(w * s for w, s in weighted) / sum(w for w, _ in weighted), 2)


def exclusions(newest: Newest, shares: list[Figure], today: dt.date) -> list[Finding]:
    """The comparison's three S1 rules, each with the figure that decided it."""
    rules = []
    stars = newest("stars")
    rules.append(
        Finding(
            "stars >= 500",
            "unknown" if stars is None else ("excluded" if stars.value < 500 else "kept"),
            f"{stars.shown()} stars" if stars else "no star count",
            stars,
        )
    )
    last = newest("last_commit", "last_push")
    if last is None:
        rules.append(
            Finding(
                "commit in the last 6 months",
                "unknown",
                "no dated last-commit figure; run with --online or --git",
                None,
            )
        )
    else:
        months = _months(last.value, today)
        rules.append(
            Finding(
                "commit in the last 6 months",
                "excluded" if months > 6 else "kept",
                f"last commit {last.value} ({months:.0f} months ago)",
                last,
            )
        )
    if not shares:
        rules.append(Finding("research use >= 1%", "unknown", "no paper shares", None))
    else:
        mean = sum(f.value for f in shares) / len(shares)
        below = mean < 0.01 or all(f.qualifier == "<" or f.value < 0.01 for f in shares)
        shown = ", ".join(f"{f.metric.removeprefix('paper_share_')} {f.shown()}" for f in shares)
        rules.append(
            Finding(
                "research use >= 1%",
                "excluded" if below else "kept",
                f"paper shares: {shown}",
                shares[0],
            )
        )
    return rules


def risk_signals(newest: Newest, today: dt.date) -> list[Finding]:
    """Signals of abandonment and concentration risk, each with its figure."""
    found = []
    if (f := newest("archived")) is not None and f.value is True:
        found.append(Finding("archived", "high", "the repository is archived (read-only)", f))
    if (f := newest("moved_to_attic")) is not None:
        found.append(Finding("attic", "high", f"moved to the Apache Attic in {f.value}", f))
    if (f := newest("last_release")) is not None and _months(f.value, today) > 12:
        level = "high" if _months(f.value, today) > 24 else "medium"
        found.append(Finding("stale releases", level, f"last release {f.value}", f))
    if (f := newest("last_commit", "last_push")) is not None and _months(f.value, today) > 6:
        found.append(Finding("no recent commits", "high", f"last commit {f.value}", f))
    if (f := newest("elephant_factor")) is not None and f.value <= 1:
        share = newest("top_domain_share")
        detail = f"elephant factor {f.value}" + (
            f" ({share.value:.1%} of commits from one email domain)" if share else ""
        )
        found.append(Finding("vendor concentration", "medium", detail, f))
    if (f := newest("backers")) is not None and len(f.value) <= 1:
        found.append(Finding("single backer", "medium", f"backed by {', '.join(f.value)}", f))
    if (f := newest("license")) is not None and f.value not in PERMISSIVE:
        found.append(Finding("licence", "high", f"{f.value} is not a permissive licence", f))
    return found


def assess(newest: Newest, shares: list[Figure], today: dt.date) -> Assessment:
    inputs = health_inputs(newest, today)
    signals = risk_signals(newest, today)
    levels = {s.verdict for s in signals}
    level = "high" if "high" in levels else "medium" if "medium" in levels else "low"
    return Assessment(
        health_score(inputs),
        tuple(inputs),
        tuple(exclusions(newest, shares, today)),
        level,
        tuple(signals),
    )


def finding_dict(finding: Finding) -> dict[str, Any]:
    figure = finding.figure
    return {
        "name": finding.name,
        "verdict": finding.verdict,
        "detail": finding.detail,
        "source": figure.source if figure else None,
        "as_of": figure.as_of if figure else None,
    }
