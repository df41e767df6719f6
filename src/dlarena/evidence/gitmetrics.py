"""Ecosystem metrics from a local git clone, offline (CHAOSS definitions)."""

from __future__ import annotations

import collections
import datetime as dt
import statistics
import subprocess
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError

DAY = 86400


def _git(path: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise DlarenaError(
            f"--git {path}: not a readable git repository ({proc.stderr.strip()[:200]}); "
            "give the path of a local clone"
        )
    return proc.stdout


def absence_factor(counts: collections.Counter) -> int:
    """The fewest contributors (or organizations) whose commits exceed half of all commits."""
    total, running = sum(counts.values()), 0
    for rank, (_, count) in enumerate(counts.most_common(), start=1):
        running += count
        if running * 2 > total:
            return rank
    return 0


STALE_DAYS = 30  # a clone whose newest commit is older than this was likely never fetched


def git_metrics(path: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """Commits per week, active contributors, absence and elephant factors, tag cadence.

    Windows (the last 90 days, the last year) end at the clone's newest commit, not today: an
    old clone measured against today would read as an abandoned project. `as_of` names that
    date; `days_since_last_commit` is counted to `now`, so a stale clone shows as one."""
    now_ts = (now or dt.datetime.now(dt.UTC)).timestamp()
    commits = [line.split("\t") for line in _git(path, "log", "--format=%ae%x09%ct").splitlines()]
    if not commits:
        raise DlarenaError(f"--git {path}: the repository has no commits")
    dated = [(email.lower(), int(ts)) for email, ts in commits]
    newest = max(ts for _, ts in dated)
    year = [email for email, ts in dated if newest - ts <= 365 * DAY]
    by_author = collections.Counter(year)
    by_domain = collections.Counter(email.rpartition("@")[2] for email in year)
    tags = sorted(
        int(ts)
        for ts in _git(path, "for-each-ref", "refs/tags", "--format=%(creatordate:unix)").split()
    )
    recent_tags = [ts for ts in tags if 0 <= newest - ts <= 365 * DAY]
    gaps = [(b - a) / DAY for a, b in zip(tags, tags[1:], strict=False)]
    return {
        "as_of": dt.datetime.fromtimestamp(newest, dt.UTC).date().isoformat(),
        "commits_last_year": len(year),
        "commits_per_week": round(len(year) / (365 / 7), 2),
        "active_contributors_90d": len({e for e, ts in dated if newest - ts <= 90 * DAY}),
        "active_contributors_year": len(by_author),
        "contributor_absence_factor": absence_factor(by_author),
        "elephant_factor": absence_factor(by_domain),
        "top_domain": by_domain.most_common(1)[0][0] if by_domain else None,
        "top_domain_share": round(by_domain.most_common(1)[0][1] / len(year), 3) if year else None,
        "days_since_last_commit": round((now_ts - newest) / DAY, 1),
        "last_commit": dt.datetime.fromtimestamp(newest, dt.UTC).date().isoformat(),
        "release_tags_last_year": len(recent_tags),
        "median_days_between_tags": round(statistics.median(gaps), 1) if gaps else None,
    }


def staleness(path: Path, metrics: dict[str, Any]) -> str | None:
    """A warning for a clone that looks unfetched, naming the date its figures describe."""
    days = metrics["days_since_last_commit"]
    if days <= STALE_DAYS:
        return None
    return (
        f"--git {path}: the newest commit is {days:.0f} days old; its figures describe the "
        f"project as of {metrics['as_of']} (git fetch the clone for current ones)"
    )
