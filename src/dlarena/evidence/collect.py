"""Live collectors (only with --online): GitHub REST, PyPI and pypistats.

The GitHub token comes from GITHUB_TOKEN and lives only in the HTTP client's headers: it is never
part of a figure, an error message, the store or a report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from dlarena.errors import DlarenaError
from dlarena.evidence.snapshot import Figure
from dlarena.frameworks import RUNTIMES


@dataclasses.dataclass(frozen=True)
class Endpoints:
    github: str = "https://api.github.com"
    pypi: str = "https://pypi.org"
    pypistats: str = "https://pypistats.org"


class CollectorError(DlarenaError):
    """A source that answered with something unusable; figures collected before it are kept."""


class Http:
    """GET JSON with GitHub's 202 'still computing' retries and rate-limit back-off."""

    def __init__(
        self,
        client: httpx.Client,
        max_wait_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        retries_202: int = 5,
        token: str | None = None,
        token_base: str = Endpoints.github,
    ):
        self.client, self.max_wait_s, self.sleep, self.retries_202 = (
            client,
            max_wait_s,
            sleep,
            retries_202,
        )
        # The token goes to GitHub only, never to PyPI or pypistats.
        self._auth = ({"Authorization": f"Bearer {token}"}, token_base) if token else None

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        for attempt in range(self.retries_202 + 3):
            try:
                headers = self._auth[0] if self._auth and url.startswith(self._auth[1]) else {}
                response = self.client.get(url, params=params, headers=headers)
            except httpx.HTTPError as exc:
                raise CollectorError(f"{url}: {type(exc).__name__}: {exc}") from exc
            if response.status_code == 202 and attempt < self.retries_202:
                self.sleep(min(2.0**attempt, self.max_wait_s))
                continue
            if response.status_code in (403, 429) and self._rate_limited(response):
                self._wait_for_reset(url, response)
                continue
            return self._checked(url, response)
        raise CollectorError(
            f"{url}: still answering {response.status_code} after "
            f"{attempt + 1} tries; try again later"
        )

    def json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        response = self.get(url, params)
        try:
            return response.json()
        except ValueError as exc:
            raise CollectorError(f"{url}: malformed JSON ({exc}); the source may be down") from exc

    @staticmethod
    def _rate_limited(response: httpx.Response) -> bool:
        headers = response.headers
        return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers

    def _wait_for_reset(self, url: str, response: httpx.Response) -> None:
        headers = response.headers
        if "retry-after" in headers:
            wait = float(headers["retry-after"])
        else:
            wait = max(0.0, float(headers.get("x-ratelimit-reset", 0)) - time.time())
        if wait > self.max_wait_s:
            until = dt.datetime.fromtimestamp(time.time() + wait, dt.UTC).strftime("%H:%M UTC")
            raise CollectorError(
                f"{url}: rate limited (HTTP {response.status_code}) until {until}; "
                "set GITHUB_TOKEN for a higher limit, or run again later"
            )
        self.sleep(wait)

    @staticmethod
    def _checked(url: str, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise CollectorError(f"{url}: HTTP {response.status_code}")
        return response


def _figure(framework: str, metric: str, value: Any, source: str, today: str) -> Figure:
    return Figure(framework, metric, value, today, source)


def github(http: Http, base: str, framework: str, today: dt.date) -> Iterator[Figure]:
    """Repository figures, one at a time, so an error keeps what came before it."""
    repo, day = str(RUNTIMES[framework].repo), today.isoformat()  # compared: repo is set
    info = http.json(f"{base}/repos/{repo}")
    for metric, key in (
        ("stars", "stargazers_count"),
        ("forks", "forks_count"),
        ("archived", "archived"),
        ("last_push", "pushed_at"),
        ("created", "created_at"),
    ):
        value = info[key][:10] if key.endswith("_at") else info[key]
        yield _figure(framework, metric, value, "github", day)
    yield _figure(framework, "contributors", _contributors(http, base, repo), "github", day)
    weeks = http.json(f"{base}/repos/{repo}/stats/commit_activity")
    totals = [week["total"] for week in weeks][-52:]
    yield _figure(
        framework, "commits_per_week", round(sum(totals) / max(len(totals), 1), 2), "github", day
    )
    since = (today - dt.timedelta(days=30)).isoformat()
    for metric, qualifier in (("issues_opened_30d", "created"), ("issues_closed_30d", "closed")):
        found = http.json(
            f"{base}/search/issues",
            {"q": f"repo:{repo} is:issue {qualifier}:>={since}", "per_page": 1},
        )
        yield _figure(framework, metric, found["total_count"], "github", day)
    releases = http.json(f"{base}/repos/{repo}/releases", {"per_page": 100})
    dates = sorted(r["published_at"][:10] for r in releases if r.get("published_at"))
    year_ago = (today - dt.timedelta(days=365)).isoformat()
    yield _figure(framework, "releases_last_year", sum(d >= year_ago for d in dates), "github", day)


def _contributors(http: Http, base: str, repo: str) -> int:
    """Total contributors: one per page, so the last page number in the Link header is the count."""
    response = http.get(f"{base}/repos/{repo}/contributors", {"per_page": 1, "anon": 1})
    last = response.links.get("last", {}).get("url")
    if last is None:
        return len(response.json())
    return int(httpx.URL(last).params["page"])


def pypi(http: Http, base: str, framework: str, today: dt.date) -> Iterator[Figure]:
    """Release history: the last release, releases in the last year, median days between them."""
    data = http.json(f"{base}/pypi/{RUNTIMES[framework].package}/json")
    uploads = sorted(
        min(f["upload_time_iso_8601"][:10] for f in files)
        for files in data["releases"].values()
        if files
    )
    day, year_ago = today.isoformat(), (today - dt.timedelta(days=365)).isoformat()
    yield _figure(framework, "last_release", uploads[-1], "pypi", day)
    yield _figure(framework, "last_release_version", data["info"]["version"], "pypi", day)
    yield _figure(
        framework, "pypi_releases_last_year", sum(u >= year_ago for u in uploads), "pypi", day
    )
    recent = [dt.date.fromisoformat(u) for u in uploads[-12:]]
    gaps = [(b - a).days for a, b in zip(recent, recent[1:], strict=False)]
    if gaps:
        yield _figure(
            framework, "median_days_between_releases", statistics.median(gaps), "pypi", day
        )


def pypistats(http: Http, base: str, framework: str, today: dt.date) -> Iterator[Figure]:
    data = http.json(f"{base}/api/packages/{RUNTIMES[framework].package}/recent")
    yield _figure(
        framework,
        "downloads_last_month",
        data["data"]["last_month"],
        "pypistats",
        today.isoformat(),
    )


COLLECTORS = (("github", github), ("pypi", pypi), ("pypistats", pypistats))


def collect(
    http: Http,
    endpoints: Endpoints,
    frameworks: tuple[str, ...],
    today: dt.date,
    on_figure: Callable[[Figure], None],
) -> list[str]:
    """Run every collector for every framework; returns the errors, keeps every figure got."""
    errors = []
    for framework in frameworks:
        for name, collector in COLLECTORS:
            try:
                for figure in collector(http, getattr(endpoints, name), framework, today):
                    on_figure(figure)
            except CollectorError as exc:
                errors.append(f"{framework}/{name}: {exc}")
            except (KeyError, TypeError, IndexError) as exc:
                errors.append(f"{framework}/{name}: unexpected answer (missing {exc})")
    return errors


def client(timeout_s: float = 30.0) -> httpx.Client:
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "dlarena"}
    return httpx.Client(headers=headers, timeout=timeout_s, follow_redirects=True)
