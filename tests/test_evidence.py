"""Evidence: the snapshot is sourced, collectors against a replaying HTTP server on 127.0.0.1,
git metrics on a repository built here, health and the exclusion rules."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dlarena.errors import DlarenaError
from dlarena.evidence import collect, gather
from dlarena.evidence.gitmetrics import git_metrics
from dlarena.evidence.snapshot import load_snapshot, validate
from dlarena.frameworks import FRAMEWORKS
from dlarena.store import Store

RECORDED = json.loads((Path(__file__).parent / "recorded" / "pytorch.json").read_text())
TODAY = dt.date(2026, 11, 25)
TOKEN = "ghp_test_secret_token_123"


class Replay(BaseHTTPRequestHandler):
    """Serves queued responses per path; records each request's path and headers."""

    routes: dict[str, list[tuple[int, dict, str]]] = {}
    seen: list[tuple[str, dict]] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append((self.path, dict(self.headers)))
        path = self.path.split("?")[0]
        queue = self.routes.get(path, [(404, {}, '{"message": "Not Found"}')])
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value.replace("{base}", self.server.base))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    Replay.routes, Replay.seen = {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    httpd.base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def ok(body: object, headers: dict | None = None) -> tuple[int, dict, str]:
    return (200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body))


def pytorch_routes(base: str) -> dict:
    repo = "/repos/pytorch/pytorch"
    return {
        repo: [ok(RECORDED["repo"])],
        f"{repo}/contributors": [
            ok(
                RECORDED["contributors_page"],
                {
                    "Link": f'<{{base}}{repo}/contributors?per_page=1&anon=1&page=2>; rel="next", '
                    f'<{{base}}{repo}/contributors?per_page=1&anon=1&page=5873>; rel="last"'
                },
            )
        ],
        # GitHub computes statistics on demand: 202 (empty) first, then the data.
        f"{repo}/stats/commit_activity": [
            (202, {}, "{}"),
            (202, {}, "{}"),
            ok(RECORDED["commit_activity"]),
        ],
        "/search/issues": [
            ok({"total_count": 1234, "items": []}),
            ok({"total_count": 1011, "items": []}),
        ],
        f"{repo}/releases": [ok(RECORDED["releases"])],
        "/pypi/torch/json": [ok(RECORDED["pypi"])],
        "/api/packages/torch/recent": [ok(RECORDED["pypistats"])],
    }


def run_collectors(server, frameworks=("torch",), max_wait_s=5.0):
    base = server.base
    endpoints = collect.Endpoints(github=base, pypi=base, pypistats=base)
    figures, waits = [], []
    with collect.client() as client:
        http = collect.Http(
            client, max_wait_s=max_wait_s, sleep=waits.append, token=TOKEN, token_base=base
        )
        errors = collect.collect(http, endpoints, frameworks, TODAY, figures.append)
    return {f.metric: f for f in figures}, errors, waits


def test_every_snapshot_value_is_sourced_and_dated() -> None:
    sources, figures = load_snapshot()
    assert {f.framework for f in figures} == set(FRAMEWORKS)
    for figure in figures:
        assert figure.source in sources and figure.as_of[:4] in (
            "2022",
            "2023",
            "2024",
            "2025",
            "2026",
        ), figure
    published = {(f.framework, f.metric): f.value for f in figures if f.source == "seed"}
    assert (
        published[("torch", "stars")] == 77000
        and published[("mxnet", "speed_score_published")] == 5.4
    )


def test_snapshot_schema_rejects_an_unsourced_figure() -> None:
    doc = {
        "format_version": 1,
        "sources": {"s": {"title": "t", "where": "w", "published": "2024"}},
        "figures": [
            {
                "framework": "jax",
                "metric": "stars",
                "value": 1,
                "as_of": "2024-01",
                "source": "blog",
            }
        ],
    }
    with pytest.raises(DlarenaError, match=r"figures\[0\]: source 'blog' is not in 'sources'"):
        validate(doc)


def test_offline_scan_excludes_mxnet_with_its_reasons() -> None:
    evidence = gather(today=TODAY)
    mxnet = evidence.frameworks["mxnet"].assessment
    verdicts = {
        r.name: (r.verdict, r.figure.source if r.figure else None) for r in mxnet.exclusions
    }
    assert verdicts["commit in the last 6 months"] == ("excluded", "mxnet-timeline")
    assert verdicts["research use >= 1%"] == ("excluded", "seed")
    assert verdicts["stars >= 500"][0] == "kept"
    assert mxnet.risk_level == "high"
    assert {"archived", "attic", "stale releases"} <= {s.name for s in mxnet.risk_signals}
    for name in ("torch", "tensorflow", "jax"):
        assert not evidence.frameworks[name].assessment.excluded, name
    healths = {n: fw.assessment.health for n, fw in evidence.frameworks.items()}
    assert healths["mxnet"] < healths["jax"] < healths["tensorflow"] < healths["torch"]


def test_collectors_read_github_pypi_and_pypistats(server, tmp_path) -> None:
    Replay.routes = pytorch_routes(server.base)
    got, errors, waits = run_collectors(server)
    assert errors == []
    assert got["stars"].value == 97512 and got["stars"].source == "github"
    assert got["contributors"].value == 5873  # from the Link header's last page
    assert got["commits_per_week"].value == round(
        sum(w["total"] for w in RECORDED["commit_activity"]) / 52, 2
    )
    assert waits == [1.0, 2.0]  # two 202 answers, backed off
    assert (got["issues_opened_30d"].value, got["issues_closed_30d"].value) == (1234, 1011)
    assert got["releases_last_year"].value == 4  # 2025-10-15 and 2025-08-06 are older
    assert got["last_release"].value == "2026-10-15"
    assert got["pypi_releases_last_year"].value == 4
    assert got["downloads_last_month"].value == 56789012
    assert all(f.as_of == "2026-11-25" for f in got.values())


def test_the_token_goes_to_github_only_and_is_never_stored(server, tmp_path) -> None:
    Replay.routes = pytorch_routes(server.base)
    store = Store(tmp_path / "s.sqlite")
    other_host = server.base.replace("127.0.0.1", "localhost")  # same server, another name
    endpoints = collect.Endpoints(github=server.base, pypi=other_host, pypistats=other_host)
    evidence = gather(store, online=True, today=TODAY, endpoints=endpoints, token=TOKEN)
    authorized = [path for path, headers in Replay.seen if "Authorization" in headers]
    assert authorized and all(not p.startswith(("/pypi", "/api/packages")) for p in authorized)
    assert evidence.frameworks["torch"].newest("stars").value == 97512
    assert TOKEN.encode() not in (tmp_path / "s.sqlite").read_bytes()
    # History accumulates: the collected figures are read back on the next offline gather.
    again = gather(Store(tmp_path / "s.sqlite"), today=TODAY)
    assert again.frameworks["torch"].newest("stars").source == "github"


def test_a_rate_limit_past_the_wait_gives_a_clear_error_and_keeps_earlier_figures(server) -> None:
    routes = pytorch_routes(server.base)
    reset = str(int(dt.datetime.now().timestamp()) + 3600)
    routes["/repos/pytorch/pytorch/contributors"] = [
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
            '{"message": "API rate limit exceeded"}',
        )
    ]
    Replay.routes = routes
    got, errors, _ = run_collectors(server)
    assert got["stars"].value == 97512  # collected before the limit
    assert "contributors" not in got
    assert len(errors) == 1 and "rate limited (HTTP 403) until" in errors[0]
    assert "set GITHUB_TOKEN" in errors[0] and TOKEN not in errors[0]
    assert got["last_release"].source == "pypi"  # the other collectors went on


def test_a_short_429_is_waited_out(server) -> None:
    routes = pytorch_routes(server.base)
    routes["/pypi/torch/json"] = [(429, {"Retry-After": "3"}, "{}"), ok(RECORDED["pypi"])]
    Replay.routes = routes
    got, errors, waits = run_collectors(server)
    assert errors == [] and 3.0 in waits and got["last_release"].value == "2026-10-15"


def test_malformed_json_names_the_url_and_keeps_the_rest(server) -> None:
    routes = pytorch_routes(server.base)
    routes["/api/packages/torch/recent"] = [(200, {}, '{"data": {"last_month": 12')]
    Replay.routes = routes
    got, errors, _ = run_collectors(server)
    assert errors == [
        f"torch/pypistats: {server.base}/api/packages/torch/recent: malformed JSON "
        "(Expecting ',' delimiter: line 1 column 27 (char 26)); the source may be down"
    ]
    assert got["stars"].value == 97512 and got["last_release"].value == "2026-10-15"


def commit(repo: Path, email: str, when: str, tag: str | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "GIT_AUTHOR_NAME": email.split("@")[0],
        "GIT_COMMITTER_NAME": "ci",
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_EMAIL": "ci@example.org",
    }
    (repo / "log.txt").write_text(f"{email} {when}\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", when], check=True, env=env)
    if tag:
        subprocess.run(["git", "-C", str(repo), "tag", "-a", tag, "-m", tag], check=True, env=env)


def test_git_metrics_on_a_repository_with_known_authors(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, "old@ancient.org", "2024-01-10T12:00:00+00:00", tag="v0.1")  # over a year ago
    for day in range(1, 7):  # 6 commits by alice@corp.com
        commit(repo, "alice@corp.com", f"2026-0{day}-15T12:00:00+00:00")
    commit(repo, "bob@corp.com", "2026-07-01T12:00:00+00:00", tag="v1.0")
    commit(repo, "bob@corp.com", "2026-08-01T12:00:00+00:00")
    commit(repo, "carol@uni.edu", "2026-10-01T12:00:00+00:00")
    commit(repo, "dave@other.io", "2026-11-15T12:00:00+00:00", tag="v1.1")
    metrics = git_metrics(repo, dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    # Last year: alice 6, bob 2, carol 1, dave 1 = 10 commits.
    assert metrics["commits_last_year"] == 10
    assert metrics["commits_per_week"] == round(10 / (365 / 7), 2)
    assert metrics["active_contributors_year"] == 4
    assert metrics["active_contributors_90d"] == 2  # carol (55 days), dave (10 days)
    assert metrics["contributor_absence_factor"] == 1  # alice alone has 6 of 10
    assert metrics["elephant_factor"] == 1  # corp.com has 8 of 10
    assert metrics["top_domain"] == "corp.com" and metrics["top_domain_share"] == 0.8
    assert metrics["days_since_last_commit"] == 9.5  # noon on the 15th to midnight on the 25th
    assert metrics["release_tags_last_year"] == 2
    # tag gaps: v0.1 -> v1.0 = 903 days, v1.0 -> v1.1 = 137 days
    assert metrics["median_days_between_tags"] == 520.0


def test_git_option_feeds_the_assessment(tmp_path: Path) -> None:
    repo = tmp_path / "mx"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, "dev@example.org", "2026-11-20T12:00:00+00:00")
    evidence = gather(git={"torch": repo}, today=TODAY)
    rules = {r.name: r for r in evidence.frameworks["torch"].assessment.exclusions}
    assert rules["commit in the last 6 months"].verdict == "kept"
    assert rules["commit in the last 6 months"].figure.source == f"git:{repo}"


def test_a_path_that_is_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DlarenaError, match="not a readable git repository"):
        git_metrics(tmp_path)


def test_a_stale_clone_is_measured_as_of_its_newest_commit_and_said_to_be_stale(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "jax"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    newest = dt.datetime.combine(TODAY, dt.time(12), dt.UTC) - dt.timedelta(days=108)
    for i, email in enumerate(("a@x.org", "b@y.org", "c@z.org")):
        commit(repo, email, (newest - dt.timedelta(days=10 * i)).isoformat())
    evidence = gather(git={"jax": repo}, today=TODAY)
    figures = {f.metric: f for f in evidence.frameworks["jax"].figures if f.source == f"git:{repo}"}
    # Against today, nobody committed in 90 days; as of the clone, three people did.
    assert figures["active_contributors_90d"].value == 3
    assert figures["active_contributors_90d"].as_of == newest.date().isoformat()
    assert figures["days_since_last_commit"].value == pytest.approx(108, abs=1)
    (warning,) = [e for e in evidence.errors if str(repo) in e]
    assert f"as of {newest.date().isoformat()}" in warning and "108 days old" in warning
