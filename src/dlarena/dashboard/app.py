"""The dashboard as a FastAPI app: GET only, the store opened read-only per request, nothing read
from disk by request path; unknown ids and paths get a 404 page (JSON under /api)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly.offline
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from dlarena.dashboard import data, pages
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

    def store() -> Iterator[Store]:
        db = Store(store_path, create=False, read_only=True)
        try:
            yield db
        finally:
            db.close()

    def report(db: Store, run: int | None = None) -> Report:
        try:
            return build_report(db, Profile(), run)
        except DlarenaError as exc:
            raise NotFound(str(exc)) from None

    def known(framework: str) -> str:
        if framework not in FRAMEWORKS:
            raise NotFound(f"no framework '{framework}'; choose {', '.join(FRAMEWORKS)}")
        return framework

    def found(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except DlarenaError as exc:
            raise NotFound(str(exc)) from None

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

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/plotly.js", include_in_schema=False)
    def plotly_script() -> Response:
        return Response(plotly_js(), media_type="application/javascript")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(db: Store = Depends(store)) -> str:
        return pages.runs_page(db.runs(), report(db).answer_line)

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_page(db: Store = Depends(store)) -> str:
        return pages.report_page(report(db))

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(run_id: int, db: Store = Depends(store)) -> str:
        return pages.run_page(found(data.run_detail, db, run_id), report(db, run_id))

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(a: int, b: int, force: bool = False, db: Store = Depends(store)) -> str:
        return pages.compare_page(found(data.comparison, db, a, b, force))

    @app.get("/history/{framework}", response_class=HTMLResponse, include_in_schema=False)
    def history_page(framework: str, db: Store = Depends(store)) -> str:
        return pages.history_page(known(framework), data.history(db, framework))

    @app.get("/evidence", response_class=HTMLResponse, include_in_schema=False)
    def evidence_page(db: Store = Depends(store)) -> str:
        return pages.evidence_page(report(db))

    @app.get("/api/runs", summary="Every run, newest first, with its cell count")
    def api_runs(db: Store = Depends(store)) -> list[dict[str, Any]]:
        return db.runs()

    @app.get("/api/runs/{run_id}", summary="One run and every cell it stored")
    def api_run(run_id: int, db: Store = Depends(store)) -> dict[str, Any]:
        return found(data.run_detail, db, run_id)

    @app.get("/api/compare", summary="Run B over run A per cell: ratio, CI, p-value, verdict")
    def api_compare(a: int, b: int, force: bool = False, db: Store = Depends(store)) -> Any:
        return found(data.comparison, db, a, b, force)

    @app.get("/api/history/{framework}", summary="A framework's figures across runs")
    def api_history(framework: str, db: Store = Depends(store)) -> Any:
        return data.history(db, known(framework))

    @app.get("/api/evidence", summary="Every evidence figure with its source and date")
    def api_evidence(db: Store = Depends(store)) -> dict[str, Any]:
        return evidence_document(gather(db))

    @app.get("/api/answer", summary="The recommendation and the figures it stands on")
    def api_answer(db: Store = Depends(store)) -> dict[str, Any]:
        built = report(db)
        return {
            "answer": built.answer_line,
            "recommendation": built.advice.recommendation,
            "runner_up": built.advice.runner_up,
            "confidence": built.advice.confidence,
            "reasons": [r.text for r in built.reasons],
            "warnings": list(built.advice.warnings),
            "measured": built.selection.source,
            "cells": list(built.rows),
        }

    return app


def _missing(request: Request, detail: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=404)
    return HTMLResponse(pages.not_found_page(detail), status_code=404)
