"""S1/S4 evidence: the dated snapshot, live collectors, git metrics, health and risk.

`gather` is the one way the rest of dlarena (scan, scoring, reports) reads these figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from dlarena.converge.records import ConvergeRecord
from dlarena.evidence import collect, gitmetrics, health
from dlarena.evidence.snapshot import Figure, load_snapshot
from dlarena.frameworks import FRAMEWORKS
from dlarena.migrate.records import ScanRecord
from dlarena.probes.records import DebugRecord, DeployRecord
from dlarena.scale.records import ScaleRecord

PAPER_SHARES = ("paper_share_neurips_2023", "paper_share_icml_2023", "paper_share_iclr_2024")
LIVE_SOURCES = {
    "github": {"title": "GitHub REST API", "where": "api.github.com", "published": "live"},
    "pypi": {"title": "PyPI JSON API", "where": "pypi.org/pypi/NAME/json", "published": "live"},
    "pypistats": {
        "title": "pypistats recent downloads",
        "where": "pypistats.org",
        "published": "live",
    },
}


@dataclasses.dataclass(frozen=True)
class FrameworkEvidence:
    framework: str
    figures: tuple[Figure, ...]
    assessment: health.Assessment

    def newest(self, *metrics: str) -> Figure | None:
        return newest_of(self.figures, *metrics)


@dataclasses.dataclass(frozen=True)
class Evidence:
    frameworks: dict[str, FrameworkEvidence]
    sources: dict[str, dict[str, str]]
    errors: tuple[str, ...]
    today: dt.date
    probes: tuple[DebugRecord, ...] = ()  # the newest debuggability probe records (store)
    deploys: tuple[DeployRecord, ...] = ()  # the newest deployment probe records (store)
    scaling: tuple[ScaleRecord, ...] = ()  # the newest `dlarena scale` rows (store)
    convergence: tuple[ConvergeRecord, ...] = ()  # the newest `dlarena converge` records
    migration: tuple[ScanRecord, ...] = ()  # `dlarena migrate scan` records, newest last


def newest_of(figures: tuple[Figure, ...] | list[Figure], *metrics: str) -> Figure | None:
    """The most recent figure among the metrics named (first-named wins a tie)."""
    found = [
        (f.as_of, -metrics.index(f.metric), i, f)
        for i, f in enumerate(figures)
        if f.metric in metrics
    ]
    return max(found, key=lambda t: t[:3])[3] if found else None


def gather(
    store: Any = None,
    online: bool = False,
    git: dict[str, Path] | None = None,
    today: dt.date | None = None,
    endpoints: collect.Endpoints = collect.Endpoints(),
    token: str | None = None,
    http: collect.Http | None = None,
) -> Evidence:
    """Snapshot figures, plus figures collected earlier (store), now (online) and from clones."""
    today = today or dt.date.today()
    sources, snapshot = load_snapshot()
    sources = {**sources, **LIVE_SOURCES}
    figures = list(snapshot) + (store.evidence_figures() if store is not None else [])
    errors: list[str] = []
    if online:
        collected: list[Figure] = []
        with collect.client() as client:
            errors = collect.collect(
                http or collect.Http(client, token=token, token_base=endpoints.github),
                endpoints,
                FRAMEWORKS,
                today,
                collected.append,
            )
        if store is not None:
            store.add_evidence(collected)
        figures += collected
    for framework, path in (git or {}).items():
        metrics = gitmetrics.git_metrics(path, dt.datetime.combine(today, dt.time(), dt.UTC))
        as_of, source = metrics.pop("as_of"), f"git:{path}"
        sources[source] = {
            "title": f"local clone {path} (windows end at its newest commit)",
            "where": str(path),
            "published": as_of,
        }
        dates = {"days_since_last_commit": today.isoformat()}  # counted to today
        figures += [
            Figure(framework, k, v, dates.get(k, as_of), source)
            for k, v in metrics.items()
            if v is not None
        ]
        stale = gitmetrics.staleness(path, {**metrics, "as_of": as_of})
        if stale is not None:
            errors.append(stale)
    return Evidence(
        {fw: _framework(fw, figures, today) for fw in FRAMEWORKS},
        sources,
        tuple(errors),
        today,
        tuple(store.probes("debug", DebugRecord)) if store is not None else (),
        tuple(store.probes("deploy", DeployRecord)) if store is not None else (),
        tuple(store.probes("scale", ScaleRecord)) if store is not None else (),
        tuple(store.probes("converge", ConvergeRecord)) if store is not None else (),
        tuple(store.probes("migrate", ScanRecord)) if store is not None else (),
    )


def _framework(framework: str, figures: list[Figure], today: dt.date) -> FrameworkEvidence:
    own = tuple(f for f in figures if f.framework == framework)
    shares = [f for m in PAPER_SHARES if (f := newest_of(own, m)) is not None]
    assessment = health.assess(lambda *m: newest_of(own, *m), shares, today)
    return FrameworkEvidence(framework, own, assessment)
