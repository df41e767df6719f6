"""The dashboard and the report as a person sees them: a real server on 127.0.0.1, Debian's
Chromium driven by Playwright, a store filled by two real benchmark runs."""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from dlarena.dashboard.server import browser, dashboard_paths, running
from dlarena.frameworks import FRAMEWORKS
from dlarena.runner import envs
from dlarena.runner.matrix import plan, run_matrix
from dlarena.runner.process import free_port
from dlarena.spec.loader import load_workload
from dlarena.store import Store

from .conftest import FAST
from .test_cli import DLARENA, dlarena

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """Two runs of the tiny mlp: torch (eager, both modes) and ONNX Runtime (inference)."""
    path = tmp_path_factory.mktemp("dash") / "s.sqlite"
    db = Store(path)
    protocol = dataclasses.replace(FAST, blocks=4, latency_s=0.05)
    mlp = load_workload("mlp", "tiny")
    cells = plan([mlp], ["torch", "onnxruntime"], ["eager"], ["train", "infer"])
    for _ in range(2):
        run_matrix(db, cells, protocol, envs.dlarena_home(), {}, lambda c, r: None)
    db.close()
    return path


@pytest.fixture(scope="module")
def site(filled):
    with running(filled) as base, browser() as chromium:
        yield base, chromium


def visit(chromium, url: str):
    """A fresh page at `url`, with every console error and page error it raised."""
    page = chromium.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, response, errors


def test_every_page_loads_without_console_errors_and_draws_its_charts(site):
    base, chromium = site
    for name, path in dashboard_paths([2, 1], FRAMEWORKS).items():
        page, response, errors = visit(chromium, base + path)
        assert response.status == 200 and errors == [], (name, errors)
        if name in ("report", "run", "compare", "history-torch"):
            assert page.locator(".js-plotly-plot .main-svg").count() > 0, name
        page.close()


def test_the_report_page_answers_first_with_error_bars_on_throughput(site):
    base, chromium = site
    page, _, _ = visit(chromium, base + "/report")
    answer = page.locator("#answer")
    assert answer.locator("h2").inner_text().startswith("Use ")
    assert answer.locator("li").count() >= 1
    assert page.locator("#chart-throughput .errorbar").count() >= 3  # torch x2, onnxruntime
    assert page.locator("#chart-latency .box").count() >= 2
    assert page.locator("#chart-parity .hm, #chart-parity image").count() >= 1
    page.close()


def test_navigation_run_selection_and_comparison(site):
    base, chromium = site
    page, _, _ = visit(chromium, base + "/")
    assert page.locator("#runs tbody tr").count() == 2
    page.click("text=run 1")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/runs/1") and page.locator("h1").inner_text() == "Run 1"
    page.click("nav#site >> text=Runs")
    page.select_option("#run-a", "1")
    page.select_option("#run-b", "2")
    page.click("#compare button")
    page.wait_for_load_state("networkidle")
    assert "a=1" in page.url and "b=2" in page.url
    verdicts = page.locator("table td:last-child").all_inner_texts()
    compared = httpx.get(base + "/api/compare", params={"a": 1, "b": 2}).json()["rows"]
    assert verdicts == [row["verdict"] for row in compared] and len(verdicts) == 3
    assert page.locator("#chart-ratios .errorbar").count() >= 1
    page.click("nav#site >> text=torch history")
    page.wait_for_load_state("networkidle")
    assert page.locator("#chart-history .scatterlayer .trace").count() == 2  # train and infer
    page.close()


def test_the_report_file_renders_offline(site, filled, tmp_path):
    _, chromium = site
    out = tmp_path / "report" / "index.html"
    assert dlarena("report", "--store", str(filled), "--output", str(out)).returncode == 0
    context = chromium.new_context()
    requested: list[str] = []

    def only_the_file(route):
        requested.append(route.request.url)
        return route.continue_() if route.request.url.startswith("file:") else route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    assert errors == [] and all(u.startswith("file:") for u in requested)
    assert page.locator("#chart-throughput .main-svg").count() > 0
    context.close()


def test_unknown_ids_are_404_pages_and_nothing_is_written(site, filled):
    base, _ = site
    before = hashlib.sha256(filled.read_bytes()).hexdigest()
    for path in ("/runs/999", "/runs/abc", "/compare?a=1&b=999", "/history/theano",
                 "/../../etc/passwd", "/static/../../dlarena.sqlite", "/nowhere"):  # fmt: skip
        response = httpx.get(base + path)
        assert response.status_code == 404, path
        assert "Not found" in response.text and "Traceback" not in response.text, path
    api = httpx.get(base + "/api/runs/999")
    assert api.status_code == 404 and "run 999 is not in" in api.json()["detail"]
    assert httpx.post(base + "/").status_code == 405
    assert hashlib.sha256(filled.read_bytes()).hexdigest() == before


def test_the_json_api_and_its_openapi_description(site):
    base, _ = site
    runs = httpx.get(base + "/api/runs").json()
    assert [r["id"] for r in runs] == [2, 1] and runs[0]["cells"] == 3
    detail = httpx.get(base + "/api/runs/1").json()
    assert {c["runtime"] for c in detail["cells"]} == {"torch", "onnxruntime"}
    compared = httpx.get(base + "/api/compare", params={"a": 1, "b": 2}).json()
    assert compared["refused"] is None and len(compared["rows"]) == 3
    assert len(httpx.get(base + "/api/history/torch").json()) == 2
    answer = httpx.get(base + "/api/answer").json()
    assert answer["measured"].startswith("run 2") or answer["measured"].startswith("runs")
    spec = httpx.get(base + "/openapi.json").json()
    assert {"/api/runs", "/api/runs/{run_id}", "/api/compare", "/api/evidence"} <= set(
        spec["paths"]
    )
    evidence = httpx.get(base + "/api/evidence")
    assert evidence.status_code == 200
    frameworks = evidence.json()["frameworks"]  # the dated snapshot: no live collection ran
    assert set(frameworks) == set(FRAMEWORKS)
    for name, found in frameworks.items():
        assert found["figures"] and all(f["source"] for f in found["figures"]), name


def test_screenshots_saves_a_png_of_every_page(filled, tmp_path):
    result = dlarena("screenshots", str(tmp_path / "shots"), "--store", str(filled))
    assert result.returncode == 0, result.stderr
    shots = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert len(shots) == len(dashboard_paths([2, 1], FRAMEWORKS))
    assert all((tmp_path / "shots" / s).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in shots)


def test_serve_answers_on_its_port_until_it_is_stopped(filled):
    port = free_port()
    server = subprocess.Popen(
        [DLARENA, "serve", "--port", str(port), "--store", str(filled)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the dashboard never answered"
            try:
                runs = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)  # still starting
        assert [r["id"] for r in runs] == [2, 1]
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert f"dashboard: http://127.0.0.1:{port}/ over {filled}" in out
