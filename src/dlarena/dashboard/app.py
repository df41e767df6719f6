"""The dashboard as a FastAPI app: GET only, the store read through a read-only connection of
each request's own, every answer computed once per state of the store (views.py), nothing read
from disk by request path; unknown ids and paths get a 404 page (JSON under /api)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Annotated, Any

import plotly.offline
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from dlarena.codec import encode
from dlarena.dashboard import data, pages
from dlarena.dashboard.views import Views
from dlarena.decide.profile import Profile
from dlarena.errors import DlarenaError
from dlarena.evidence import gather
from dlarena.evidence.report import evidence_document
from dlarena.frameworks import FRAMEWORKS
from dlarena.report.content import Report, build_report
from dlarena.store import Store


class NotFound(Exception):
    """An id or a name the store does not have."""


@functools.cache
def plotly_js() -> str:
    return plotly.offline.get_plotlyjs()


def create_app(store_path: Path) -> FastAPI:
    app = FastAPI(
        title="dlarena dashboard",
        description="Read-only views of a dlarena store: runs, cells, comparisons, history, "
        "evidence and the current decision.",
        docs_url=None,  # the interactive docs load scripts from a CDN; /openapi.json is local
        redoc_url=None,
    )
    site = _Site(Views(store_path))
    app.state.views = site.views
    _error_pages(app)
    app.include_router(_page_routes(site))
    app.include_router(_api_routes(site))
    return app


class _Site:
    """What every route reads: the store's cached views, and the report built from them."""

    def __init__(self, views: Views) -> None:
        self.views = views

    def report(self, run: int | None = None) -> Report:
        def build(db: Store) -> Report:
            try:
                return build_report(db, Profile(), run)
            except DlarenaError as exc:
                raise NotFound(str(exc)) from None

        return self.views.get(("report", run), build)

    @staticmethod
    def known(framework: str) -> str:
        if framework not in FRAMEWORKS:
            raise NotFound(f"no framework '{framework}'; choose {', '.join(FRAMEWORKS)}")
        return framework

    @staticmethod
    def found(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except DlarenaError as exc:
            raise NotFound(str(exc)) from None


def _error_pages(app: FastAPI) -> None:
    """Unknown ids, paths and bad parameters: a 404 page (JSON under /api)."""

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _missing(request, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return _missing(request, f"nothing at {request.url.path}")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _missing(request, f"no such page: {where}")


def _page_routes(site: _Site) -> APIRouter:
    router, views, found = APIRouter(), site.views, site.found

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @router.get("/static/plotly.js", include_in_schema=False)
    def plotly_script() -> Response:
        return Response(plotly_js(), media_type="application/javascript")

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(page: Annotated[int, Query(ge=1)] = 1) -> str:
        def render(db: Store) -> str:
            shown = db.runs(pages.RUNS_PER_PAGE, (page - 1) * pages.RUNS_PER_PAGE)
            return pages.runs_page(shown, site.report().answer_line, page, db.run_count())

        return views.get(("/", page), render)

    @router.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_page() -> str:
        return views.get("/report", lambda db: pages.report_page(site.report()))

    @router.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(run_id: int) -> str:
        return views.get(
            ("/runs", run_id),
            lambda db: pages.run_page(found(data.run_detail, db, run_id), site.report(run_id)),
        )

    @router.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(a: int, b: int, force: bool = False) -> str:
        return views.get(
            ("/compare", a, b, force),
            lambda db: pages.compare_page(found(data.comparison, db, a, b, force)),
        )

    @router.get("/history/{framework}", response_class=HTMLResponse, include_in_schema=False)
    def history_page(framework: str) -> str:
        name = site.known(framework)
        return views.get(
            ("/history", name), lambda db: pages.history_page(name, data.history(db, name))
        )

    @router.get("/evidence", response_class=HTMLResponse, include_in_schema=False)
    def evidence_page() -> str:
        return views.get("/evidence", lambda db: pages.evidence_page(site.report()))

    return router


def _api_routes(site: _Site) -> APIRouter:
    router, views, found = APIRouter(prefix="/api"), site.views, site.found

    @router.get("/runs", summary="Runs, newest first, with their cell counts (a page)")
    def api_runs(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0
    ) -> list[dict[str, Any]]:
        return views.get(("/api/runs", limit, offset), lambda db: encode(db.runs(limit, offset)))

    @router.get("/runs/{run_id}", summary="One run and every cell it stored")
    def api_run(run_id: int) -> dict[str, Any]:
        def detail(db: Store) -> dict[str, Any]:
            shown = found(data.run_detail, db, run_id)
            return {"run": encode(shown.info), "cells": [c.as_dict() for c in shown.cells]}

        return views.get(("/api/runs", run_id), detail)

    @router.get("/compare", summary="Run B over run A per cell: ratio, CI, p-value, verdict")
    def api_compare(a: int, b: int, force: bool = False) -> Any:
        return views.get(
            ("/api/compare", a, b, force),
            lambda db: encode(found(data.comparison, db, a, b, force)),
        )

    @router.get("/history/{framework}", summary="A framework's figures across runs")
    def api_history(framework: str) -> Any:
        name = site.known(framework)
        return views.get(
            ("/api/history", name),
            lambda db: {
                kind: [dataclasses.asdict(p) for p in points]
                for kind, points in data.history(db, name).items()
            },
        )

    @router.get("/evidence", summary="Every evidence figure with its source and date")
    def api_evidence() -> dict[str, Any]:
        return views.get("/api/evidence", lambda db: evidence_document(gather(db)))

    @router.get("/answer", summary="The recommendation and the figures it stands on")
    def api_answer() -> dict[str, Any]:
        return views.get("/api/answer", lambda db: _answer(site.report()))

    return router


def _answer(built: Report) -> dict[str, Any]:
    return {
        "answer": built.answer_line,
        "recommendation": built.advice.recommendation,
        "runner_up": built.advice.runner_up,
        "confidence": built.advice.confidence,
        "flip": built.advice.flip,
        "reasons": [r.text for r in built.reasons],
        "warnings": list(built.advice.warnings),
        "measured": built.selection.source,
        "cells": [row.as_dict() for row in built.rows],
    }


def _missing(request: Request, detail: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=404)
    return HTMLResponse(pages.not_found_page(detail), status_code=404)
