"""The SQLite store: a versioned schema of runs, cells, parity checks and timing samples.

Schema history (PRAGMA user_version):
  1 - runs, cells, parity, samples.
  2 - evidence: every live figure with its source, date and collection time.
Each migration is applied once, in order, inside a transaction.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError

MIGRATIONS = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL,          -- running | finished | interrupted
        git_sha TEXT,
        config TEXT NOT NULL           -- JSON: workloads, runtimes, tiers, threads, protocol
    );
    CREATE TABLE cells (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        workload TEXT NOT NULL,
        runtime TEXT NOT NULL,
        tier TEXT NOT NULL,
        mode TEXT NOT NULL,
        env_name TEXT,
        status TEXT NOT NULL,          -- ok | failed
        reason TEXT,
        exit_code INTEGER,
        stderr_tail TEXT,
        parity_passed INTEGER,         -- 1, 0, or NULL when parity never ran
        environment TEXT,              -- JSON: versions, CPU, threads, python, git sha
        phases TEXT,                   -- JSON: import_s, build_s, first_call_s, warmup_s
        summary TEXT,                  -- JSON: medians, CIs, throughput, latency percentiles
        created_at REAL NOT NULL
    );
    CREATE TABLE parity (
        cell_id INTEGER NOT NULL REFERENCES cells(id),
        check_name TEXT NOT NULL,
        max_abs REAL NOT NULL,
        max_rel REAL NOT NULL,
        tolerance REAL NOT NULL,
        passed INTEGER NOT NULL
    );
    CREATE TABLE samples (
        cell_id INTEGER NOT NULL REFERENCES cells(id),
        repeat INTEGER NOT NULL,
        seconds TEXT NOT NULL          -- JSON list: per-call seconds of one repeat
    );
    CREATE INDEX cells_by_run ON cells(run_id);
    """,
    """
    CREATE TABLE evidence (
        framework TEXT NOT NULL,
        metric TEXT NOT NULL,
        value TEXT NOT NULL,           -- JSON
        as_of TEXT NOT NULL,
        source TEXT NOT NULL,
        qualifier TEXT,
        collected_at REAL NOT NULL
    );
    CREATE INDEX evidence_by_metric ON evidence(framework, metric);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclasses.dataclass(frozen=True)
class CellRecord:
    """A finished cell as stored (JSON columns decoded)."""

    id: int
    run_id: int
    workload: str
    runtime: str
    tier: str
    mode: str
    env_name: str | None
    status: str
    reason: str | None
    exit_code: int | None
    stderr_tail: str | None
    parity_passed: bool | None
    environment: dict[str, Any]
    phases: dict[str, Any]
    summary: dict[str, Any]
    parity: tuple[dict[str, Any], ...]

    @property
    def ranked(self) -> bool:
        """Only cells that ran and passed parity are ever compared for speed."""
        return self.status == "ok" and self.parity_passed is True


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

    def add_cell(self, run_id: int, cell: dict[str, Any]) -> int:
        """Insert one cell with its parity checks and samples in a single transaction."""
        try:
            return self._insert_cell(run_id, cell)
        except sqlite3.OperationalError as exc:
            raise DlarenaError(
                f"could not write to the store {self.path} ({exc}); free disk space and rerun: "
                "every cell finished before this one is kept"
            ) from exc

    def _insert_cell(self, run_id: int, cell: dict[str, Any]) -> int:
        checks = cell.get("parity", ())
        passed = all(c["passed"] for c in checks) if checks else None
        with self.db:
            self.db.execute("BEGIN")
            cursor = self.db.execute(
                "INSERT INTO cells (run_id, workload, runtime, tier, mode, env_name, status, "
                "reason, exit_code, stderr_tail, parity_passed, environment, phases, summary, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    cell["workload"],
                    cell["runtime"],
                    cell["tier"],
                    cell["mode"],
                    cell.get("env_name"),
                    cell["status"],
                    cell.get("reason"),
                    cell.get("exit_code"),
                    cell.get("stderr_tail"),
                    passed,
                    json.dumps(cell.get("environment", {})),
                    json.dumps(cell.get("phases", {})),
                    json.dumps(cell.get("summary", {})),
                    time.time(),
                ),
            )
            cell_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO parity VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (cell_id, c["check"], c["max_abs"], c["max_rel"], c["tolerance"], c["passed"])
                    for c in checks
                ],
            )
            self.db.executemany(
                "INSERT INTO samples VALUES (?, ?, ?)",
                [(cell_id, i, json.dumps(s)) for i, s in enumerate(cell.get("samples", ()))],
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

    def cells(self, run_id: int) -> list[CellRecord]:
        rows = self.db.execute(
            "SELECT id, run_id, workload, runtime, tier, mode, env_name, status, reason, "
            "exit_code, stderr_tail, parity_passed, environment, phases, summary "
            "FROM cells WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).fetchall()
        return [self._cell(row) for row in rows]

    def _cell(self, row: tuple) -> CellRecord:
        checks = self.db.execute(
            "SELECT check_name, max_abs, max_rel, tolerance, passed FROM parity WHERE cell_id = ?",
            (row[0],),
        ).fetchall()
        parity = tuple(
            {
                "check": c[0],
                "max_abs": c[1],
                "max_rel": c[2],
                "tolerance": c[3],
                "passed": bool(c[4]),
            }
            for c in checks
        )
        return CellRecord(
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
            parity_passed=None if row[11] is None else bool(row[11]),
            environment=json.loads(row[12]),
            phases=json.loads(row[13]),
            summary=json.loads(row[14]),
            parity=parity,
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
