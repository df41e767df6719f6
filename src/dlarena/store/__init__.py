"""The SQLite store: runs, cells (typed records), parity checks, timing samples, evidence.

The schema and its history are in `store/schema.py`; every write is its own transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError
from dlarena.records import (
    CellResult,
    Environment,
    ParityCheck,
    Phases,
    TimingSummary,
    decode,
    encode,
)
from dlarena.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Store"]

_CELL_COLUMNS = (
    "id, run_id, workload, runtime, tier, mode, env_name, status, reason, exit_code, "
    "stderr_tail, environment, phases, summary, spec, spec_hash"
)


class Store:
    """One SQLite file; every write is committed at once, so a killed run keeps its cells."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise DlarenaError(f"store {path} cannot be opened ({exc}); move it aside") from exc

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DlarenaError(
                f"store {self.path} has schema {version}, newer than this dlarena "
                f"({SCHEMA_VERSION}); upgrade dlarena"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        self.db.close()

    def start_run(self, config: dict[str, Any], git_sha: str | None) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, status, git_sha, config) VALUES (?, 'running', ?, ?)",
            (time.time(), git_sha, json.dumps(config)),
        )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, status: str) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
            (time.time(), status, run_id),
        )

    def add_cell(self, run_id: int, cell: CellResult) -> int:
        """Insert one cell with its parity checks and samples in a single transaction."""
        try:
            return self._insert_cell(run_id, cell)
        except sqlite3.OperationalError as exc:
            raise DlarenaError(
                f"could not write to the store {self.path} ({exc}); free disk space and rerun: "
                "every cell finished before this one is kept"
            ) from exc

    def _insert_cell(self, run_id: int, cell: CellResult) -> int:
        with self.db:
            self.db.execute("BEGIN")
            cursor = self.db.execute(
                "INSERT INTO cells (run_id, workload, runtime, tier, mode, env_name, status, "
                "reason, exit_code, stderr_tail, parity_passed, environment, phases, summary, "
                "spec, spec_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    cell.workload,
                    cell.runtime,
                    cell.tier,
                    cell.mode,
                    cell.env_name,
                    cell.status,
                    cell.reason,
                    cell.exit_code,
                    cell.stderr_tail,
                    cell.parity_passed,
                    json.dumps(encode(cell.environment)),
                    json.dumps(encode(cell.phases)),
                    json.dumps(encode(cell.summary)) if cell.summary else None,
                    cell.spec,
                    cell.spec_hash,
                    time.time(),
                ),
            )
            cell_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO parity VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (cell_id, c.check, c.max_abs, c.max_rel, c.tolerance, c.passed)
                    for c in cell.parity
                ],
            )
            self.db.executemany(
                "INSERT INTO samples VALUES (?, ?, ?)",
                [(cell_id, i, json.dumps(s)) for i, s in enumerate(cell.samples)],
            )
        return cell_id

    def latest_run(self) -> int | None:
        row = self.db.execute("SELECT max(id) FROM runs").fetchone()
        return row[0]

    def run_info(self, run_id: int) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT id, started_at, finished_at, status, git_sha, config FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise DlarenaError(f"run {run_id} is not in {self.path}; see 'dlarena report --run'")
        keys = ("id", "started_at", "finished_at", "status", "git_sha", "config")
        info = dict(zip(keys, row, strict=True))
        info["config"] = json.loads(info["config"])
        return info

    def reference_dir(self, run_id: int) -> Path:
        """Where a run's reference files live: beside this store, one folder per run."""
        return self.path.parent / f"{self.path.stem}.runs" / str(run_id)

    def cells(self, run_id: int) -> list[CellResult]:
        """The run's cells in the order they finished (samples: see `samples`)."""
        rows = self.db.execute(
            f"SELECT {_CELL_COLUMNS} FROM cells WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
        return [self._cell(row) for row in rows]

    def _cell(self, row: tuple) -> CellResult:
        checks = self.db.execute(
            "SELECT check_name, max_abs, max_rel, tolerance, passed FROM parity WHERE cell_id = ?",
            (row[0],),
        ).fetchall()
        environment, phases, summary = (json.loads(v) if v else None for v in row[11:14])
        return CellResult(
            id=row[0],
            run_id=row[1],
            workload=row[2],
            runtime=row[3],
            tier=row[4],
            mode=row[5],
            env_name=row[6],
            status=row[7],
            reason=row[8],
            exit_code=row[9],
            stderr_tail=row[10],
            environment=decode(Environment, environment or {}),
            phases=decode(Phases, phases or {}),
            summary=decode(TimingSummary, summary) if summary else None,
            spec=row[14],
            spec_hash=row[15],
            parity=tuple(ParityCheck(c[0], c[1], c[2], c[3], bool(c[4])) for c in checks),
        )

    def add_evidence(self, figures: list[Any]) -> None:
        """Append collected figures; history accumulates, nothing is overwritten."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.framework,
                        f.metric,
                        json.dumps(f.value),
                        f.as_of,
                        f.source,
                        f.qualifier,
                        now,
                    )
                    for f in figures
                ],
            )

    def evidence_figures(self) -> list[Any]:
        from dlarena.evidence.snapshot import Figure

        rows = self.db.execute(
            "SELECT framework, metric, value, as_of, source, qualifier FROM evidence "
            "ORDER BY collected_at"
        ).fetchall()
        return [Figure(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def samples(self, cell_id: int) -> list[list[float]]:
        rows = self.db.execute(
            "SELECT seconds FROM samples WHERE cell_id = ? ORDER BY repeat", (cell_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]
