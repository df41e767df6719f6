"""A store with a long history, made from a real one: every run of `source` copied again and
again (its cells, parity checks, blocks and latencies), a day apart, as a team running dlarena
in CI for a year accumulates.

    python -m tests.history SOURCE TARGET RUNS   # make one
    python -m tests.history SOURCE --time        # stores of 10, 200 and 2,000 runs: how long
                                                 # each read command and dashboard page takes
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

DAY = 86_400.0
CHILDREN = {  # table -> its columns besides cell_id
    "parity": "check_name, max_abs, max_rel, tolerance, passed",
    "blocks": "process, steps, seconds",
    "latency": "batch_size, seconds",
}


def grow(source: Path, target: Path, runs: int) -> Path:
    """`target`: `source` with its runs copied until it holds `runs` runs."""
    shutil.copyfile(source, target)
    db = sqlite3.connect(target, isolation_level=None)
    cell_columns = [r[1] for r in db.execute("PRAGMA table_info(cells)") if r[1] != "id"]
    run_columns = [r[1] for r in db.execute("PRAGMA table_info(runs)") if r[1] != "id"]
    originals = [r[0] for r in db.execute("SELECT id FROM runs ORDER BY id")]
    db.execute("BEGIN")
    for n in range(runs - len(originals)):
        original = originals[n % len(originals)]
        shift = (n + 1) * DAY
        run_id = _copy_row(db, "runs", run_columns, "id", original, shift, "started_at")
        db.execute("UPDATE runs SET finished_at = finished_at + ? WHERE id = ?", (shift, run_id))
        for (cell,) in db.execute("SELECT id FROM cells WHERE run_id = ?", (original,)).fetchall():
            cell_id = _copy_row(db, "cells", cell_columns, "id", cell, shift, "created_at")
            db.execute("UPDATE cells SET run_id = ? WHERE id = ?", (run_id, cell_id))
            for table, columns in CHILDREN.items():
                db.execute(
                    f"INSERT INTO {table} (cell_id, {columns}) "
                    f"SELECT ?, {columns} FROM {table} WHERE cell_id = ?",
                    (cell_id, cell),
                )
    db.execute("COMMIT")
    db.close()
    return target


def _copy_row(
    db: sqlite3.Connection, table: str, columns: list[str], key: str, row: int, shift: float,
    clock: str,
) -> int:  # fmt: skip
    listed = ", ".join(columns)
    chosen = ", ".join(f"{c} + {shift}" if c == clock else c for c in columns)
    cursor = db.execute(
        f"INSERT INTO {table} ({listed}) SELECT {chosen} FROM {table} WHERE {key} = ?", (row,)
    )
    return int(cursor.lastrowid or 0)


COMMANDS = ("runs", "score", "compare 1 2", "spread 1 2 3", "report --output {dir}/r.html")
PAGES = ("/", "/?page=2", "/report", "/runs/1", "/history/torch", "/api/runs", "/api/answer")


def timings(source: Path, sizes: tuple[int, ...] = (10, 200, 2000)) -> None:
    """Seconds of each read command (a fresh process) and each page (first request, then the
    same request again) over stores of `sizes` runs grown from `source`."""
    import subprocess
    import tempfile
    import time

    import httpx

    from dlarena.dashboard.server import running

    with tempfile.TemporaryDirectory() as folder:
        for runs in sizes:
            store = grow(source, Path(folder) / f"h{runs}.sqlite", runs)
            shown = []
            for command in COMMANDS:
                argv = ["dlarena", *command.format(dir=folder).split(), "--store", str(store)]
                started = time.perf_counter()
                subprocess.run(argv, capture_output=True, check=False)
                shown.append(f"{command.split()[0]} {time.perf_counter() - started:.2f}s")
            with running(store) as url:
                for page in PAGES:
                    first = time.perf_counter()
                    httpx.get(url + page, timeout=600)
                    again = time.perf_counter()
                    httpx.get(url + page, timeout=600)
                    end = time.perf_counter()
                    shown.append(f"{page} {again - first:.2f}/{end - again:.2f}s")
            print(f"{runs} runs: " + ", ".join(shown), flush=True)


if __name__ == "__main__":
    if sys.argv[2:] == ["--time"]:
        timings(Path(sys.argv[1]))
    else:
        grow(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
