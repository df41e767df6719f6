"""The SQLite store: schema versioning, every cell committed at once, interrupted runs kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dlarena.errors import DlarenaError
from dlarena.store import SCHEMA_VERSION, Store


def a_cell(runtime: str, passed: bool = True) -> dict:
    return {
        "workload": "mlp",
        "runtime": runtime,
        "tier": "eager",
        "mode": "infer",
        "status": "ok",
        "env_name": "main",
        "environment": {"framework_version": "1.0", "threads": 2},
        "phases": {"import_s": 1.5},
        "summary": {"median_ms": 2.0},
        "parity": [
            {
                "check": "forward",
                "max_abs": 1e-6,
                "max_rel": 1e-7,
                "tolerance": 1e-4,
                "passed": passed,
            }
        ],
        "samples": [[0.002, 0.0021], [0.0019]],
    }


def test_new_store_has_the_current_schema_version(tmp_path: Path) -> None:
    Store(tmp_path / "s.sqlite").close()
    version = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_a_store_from_a_newer_dlarena_is_refused(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "s.sqlite").execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DlarenaError, match="newer than this dlarena"):
        Store(tmp_path / "s.sqlite")


def test_a_file_that_is_not_sqlite_gets_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.sqlite").write_text("not a database, just text" * 100)
    with pytest.raises(DlarenaError, match="cannot be opened"):
        Store(tmp_path / "s.sqlite")


def test_cells_round_trip_with_parity_and_samples(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run({"cells": []}, git_sha="abc123")
    store.add_cell(run_id, a_cell("torch"))
    store.add_cell(run_id, a_cell("jax", passed=False))
    torch_cell, jax_cell = store.cells(run_id)
    assert torch_cell.ranked and not jax_cell.ranked
    assert jax_cell.parity[0]["max_rel"] == 1e-7 and jax_cell.parity_passed is False
    assert store.samples(torch_cell.id) == [[0.002, 0.0021], [0.0019]]
    assert torch_cell.environment["framework_version"] == "1.0"


def test_a_run_that_never_finished_keeps_every_committed_cell(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run({"cells": []}, git_sha=None)
    store.add_cell(run_id, a_cell("torch"))
    del store  # the process dies here: no finish_run, no close
    reopened = Store(tmp_path / "s.sqlite")
    assert reopened.run_info(run_id)["status"] == "running"
    assert [c.runtime for c in reopened.cells(run_id)] == ["torch"]


def test_a_failed_write_names_the_store_and_keeps_earlier_cells(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run({"cells": []}, git_sha=None)
    store.add_cell(run_id, a_cell("torch"))
    # A page limit makes SQLite answer as it does on a full disk.
    store.db.execute(
        f"PRAGMA max_page_count = {store.db.execute('PRAGMA page_count').fetchone()[0]}"
    )
    big = a_cell("jax")
    big["samples"] = [[0.001] * 50_000]
    with pytest.raises(DlarenaError, match="could not write to the store .* free disk space"):
        store.add_cell(run_id, big)
    assert [c.runtime for c in store.cells(run_id)] == ["torch"]
