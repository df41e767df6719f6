"""The dashboard as a team uses it: many clients at once, a bench writing into the store while
people read it (a real server on 127.0.0.1, real worker processes of the fake 'numpy' runtime)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

from dlarena.dashboard.app import create_app
from dlarena.dashboard.load import hit, paths_of
from dlarena.dashboard.server import running
from dlarena.store import Store

from .history import grow
from .soak import soak
from .test_cli import dlarena
from .test_reliability import MATRIX, host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "s.sqlite"
    done = host(path, *MATRIX)
    _, stderr = done.communicate(timeout=600)
    assert done.returncode == 0, stderr
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_thousand_requests_from_32_clients_answer_as_they_should(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sha256(store)
    app = create_app(store)
    expected = paths_of(1)
    with running(store, app) as url:
        load = hit(url, expected, clients=32, requests=1000)
    assert load.unexpected == [] and load.requests == 1000
    assert load.statuses[200] + load.statuses[404] == 1000 and load.statuses[404] > 0
    assert sha256(store) == before
    # computed once per path and state: the report and each path's answer, not per request
    assert app.state.views.computed <= len(expected) + 2
    with capsys.disabled():
        print(f"\ndashboard load, 32 clients: {load.summary()}")


def test_pages_show_new_cells_while_a_bench_writes_them(store: Path) -> None:
    """No 'database is locked', no error, never fewer cells than before; the request after the
    bench ends shows every cell it stored. `report` runs meanwhile too."""
    seen: list[int] = []
    errors: list[str] = []
    with running(store) as url:
        bench = host(store, *MATRIX, "--processes", "3")
        with httpx.Client(timeout=60) as client:
            deadline = time.monotonic() + 600
            while bench.poll() is None and time.monotonic() < deadline:
                answer = client.get(url + "/api/runs")
                if answer.status_code != 200:
                    errors.append(f"/api/runs: HTTP {answer.status_code}")
                    continue
                seen.append(sum(run["cells"] for run in answer.json()))
                for path in ("/", "/report", "/api/answer"):
                    status = client.get(url + path).status_code
                    if status != 200:
                        errors.append(f"{path}: HTTP {status}")
                time.sleep(0.1)  # a page polled ten times a second, not a loop that takes a core
            report = host(store, "--output", str(store.parent / "r.html"), command="report")
            _, report_err = report.communicate(timeout=300)
            _, bench_err = bench.communicate(timeout=60)
            final = client.get(url + "/api/runs").json()
    assert bench.returncode == 0, bench_err
    assert report.returncode in (0, 1) and "locked" not in report_err, report_err
    assert errors == [] and "locked" not in bench_err
    assert seen == sorted(seen) and len(seen) > 1  # polled while it wrote; never went back
    db = Store(store, create=False)
    stored = sum(len(db.cells(run.id)) for run in db.runs())
    db.close()
    assert sum(run["cells"] for run in final) == stored > seen[0]


def test_a_year_of_history_opens_in_every_read_command_and_page(
    store: Path, tmp_path: Path
) -> None:
    """2,000 runs (the fake bench's run copied a day apart): the runs page shows 50 and pages
    through the rest; the report, score, compare and spread read it."""
    year = grow(store, tmp_path / "year.sqlite", 2000)
    with running(year) as url:
        first = httpx.get(url + "/", timeout=300)
        assert first.status_code == 200 and first.text.count("<tr><td><a href='/runs/") == 50
        assert "page 1 of 40 (2000 runs)" in first.text and "/runs/2000'" in first.text
        last = httpx.get(url + "/?page=40", timeout=300).text
        assert "/runs/1'" in last and "page 40 of 40" in last
        assert "No page 41" in httpx.get(url + "/?page=41", timeout=300).text
        listed = httpx.get(url + "/api/runs?limit=10&offset=1990", timeout=300).json()
        assert [r["id"] for r in listed] == list(range(10, 0, -1))
        history = httpx.get(url + "/api/history/numpy", timeout=300)
        assert history.status_code == 404  # not a framework of the decision
        for path in ("/report", "/runs/1000", "/api/answer", "/compare?a=1&b=2000"):
            assert httpx.get(url + path, timeout=300).status_code == 200, path
    for command in (["score"], ["compare", "1", "2000"], ["spread", "1", "2", "3"]):
        result = dlarena(*command, "--store", str(year), "--format", "json")
        assert result.returncode == 0, (command, result.stderr)
        if command == ["score"]:  # the newest cell of each kind: all in the newest run
            assert json.loads(result.stdout)["runs"] == [2000]
    report = dlarena("report", "--store", str(year), "--output", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    db = Store(year, create=False)
    assert db.run_count() == 2000 and len(db.cells(2000)) == len(db.cells(1))
    db.close()


def test_benches_in_a_row_under_a_polled_dashboard_leave_nothing_behind(tmp_path: Path) -> None:
    """The soak, shortened (python -m tests.soak runs 200): after every bench no worker process
    is alive and no dlarena-workers-* folder is left; the dashboard's open files hold still."""
    readings = soak(tmp_path, benches=8, report_every=2)
    assert [r.benches for r in readings] == [1, 2, 4, 6, 8]
    assert all(r.workers_alive == 0 and r.scratch == 0 for r in readings), readings
    assert readings[-1].fds <= readings[1].fds + 2, readings
