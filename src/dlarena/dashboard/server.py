"""Running the dashboard: in the foreground (`dlarena serve`) or on a free local port in a
background thread (screenshots, tests), and a headless Chromium to look at it."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from dlarena.dashboard.app import create_app
from dlarena.errors import DlarenaError
from dlarena.runner.process import free_port

CHROMIUM = os.environ.get("DLARENA_CHROMIUM", "/usr/bin/chromium")


def serve(store: Path, host: str, port: int) -> None:
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


@contextlib.contextmanager
def running(store: Path, app: Any = None) -> Iterator[str]:
    """The dashboard (or `app`, made by create_app) on 127.0.0.1 at a free port while the block
    runs; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app or create_app(store), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise DlarenaError(f"the dashboard did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), driven by Playwright; never a downloaded browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise DlarenaError(
            "looking at pages needs Playwright: pip install playwright==1.65.2"
        ) from None
    if not Path(CHROMIUM).is_file() and not shutil.which(CHROMIUM):
        raise DlarenaError(
            f"no Chromium at {CHROMIUM}: apt-get install chromium, or point DLARENA_CHROMIUM at one"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def dashboard_paths(runs: list[int], frameworks: tuple[str, ...]) -> dict[str, str]:
    """Every page of the dashboard for this store: file name -> path."""
    paths = {"runs": "/", "report": "/report", "evidence": "/evidence"}
    if runs:
        paths["run"] = f"/runs/{runs[0]}"
        paths["compare"] = f"/compare?a={runs[min(1, len(runs) - 1)]}&b={runs[0]}&force=1"
    paths |= {f"history-{f}": f"/history/{f}" for f in frameworks}
    return paths


def screenshots(store: Path, folder: Path, runs: list[int], frameworks: tuple[str, ...]) -> list:
    """A full-page PNG of every dashboard page; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with running(store) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1300, "height": 900})
        for name, path in dashboard_paths(runs, frameworks).items():
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            target = folder / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
    return written
