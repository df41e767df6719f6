"""The SQLite store: runs, cells (typed records), parity, timing blocks, latencies, evidence.

The schema and its history are in `store/schema.py`; every write is its own transaction.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from dlarena.codec import decode, encode
from dlarena.errors import DlarenaError
from dlarena.run_records import RunConfig, RunInfo
from dlarena.store.cells import CellRows
from dlarena.store.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Store"]

R = TypeVar("R")

_RUN_COLUMNS = "id, started_at, finished_at, status, git_sha, config, host, host_pid"


def _run_info(row: sqlite3.Row, cells: int | None = None) -> RunInfo:
    status = row["status"]
    if status == "running" and not _host_alive(row["host"], row["host_pid"]):
        status = "interrupted"  # its host was killed: nothing runs it any more
    config = decode(RunConfig, json.loads(row["config"]))
    return RunInfo(
        row["id"], row["started_at"], row["finished_at"], status, row["git_sha"], config, cells
    )


def _host_alive(host: str | None, pid: int | None) -> bool:
    """Whether the dlarena process that runs a run is still there (unknown: assume so).

    A PID is checked with its command line, so a PID the system gave to another program since
    does not keep a dead run 'running'."""
    if host is None or pid is None or host != socket.gethostname():
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return b"dlarena" in command or pid == os.getpid()


class Store(CellRows):
    """The store: runs and their cells, probe records and evidence figures."""

    def start_run(self, config: RunConfig, git_sha: str | None) -> int:
        with self._writing("start a run"):
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, status, git_sha, config) "
                "VALUES (?, 'running', ?, ?)",
                (time.time(), git_sha, json.dumps(encode(config))),
            )
        run_id = int(cursor.lastrowid or 0)
        self.claim_run(run_id)
        return run_id

    def claim_run(self, run_id: int) -> None:
        """This process now runs `run_id` (a new run, or one it resumes)."""
        with self._writing("record the run's host"):
            self.db.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL, host = ?, "
                "host_pid = ?, heartbeat_at = ? WHERE id = ?",
                (socket.gethostname(), os.getpid(), time.time(), run_id),
            )

    def beat(self, run_id: int) -> None:
        """The host is alive and working on the run."""
        with self._writing("record a heartbeat"):
            self.db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))

    def finish_run(self, run_id: int, status: str) -> None:
        with self._writing("finish the run"):
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                (time.time(), status, run_id),
            )

    def forget_run(self, run_id: int) -> None:
        """Remove a run that measured nothing (it must not become 'the latest')."""
        with self._writing("remove an empty run"), self.db:
            self.db.execute("BEGIN")
            for (cell_id,) in self.db.execute(
                "SELECT id FROM cells WHERE run_id = ?", (run_id,)
            ).fetchall():
                self._delete_cell(cell_id)
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def latest_run(self) -> int | None:
        """The newest run that stored at least one cell."""
        row = self.db.execute("SELECT max(run_id) FROM cells").fetchone()
        return row[0]

    def run_info(self, run_id: int) -> RunInfo:
        rows = self._named(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", run_id)
        if not rows:
            known = self.db.execute("SELECT min(id), max(id) FROM runs").fetchone()
            have = f"runs {known[0]} to {known[1]}" if known[0] is not None else "no runs"
            raise DlarenaError(f"run {run_id} is not in {self.path} (it has {have})")
        return _run_info(rows[0])

    def runs(self, limit: int | None = None, offset: int = 0) -> list[RunInfo]:
        """Runs newest first, with their cell counts: every run, or `limit` of them from the
        `offset`-th newest (one query, however many runs the store holds)."""
        rows = self._named(
            f"SELECT {_RUN_COLUMNS}, "
            "(SELECT count(*) FROM cells WHERE cells.run_id = runs.id) AS cells "
            "FROM runs ORDER BY id DESC LIMIT ? OFFSET ?",
            -1 if limit is None else limit,
            offset,
        )
        return [_run_info(row, row["cells"]) for row in rows]

    def run_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM runs").fetchone()[0])

    def reference_dir(self, run_id: int) -> Path:
        """Where a run's reference files live: beside this store, one folder per run."""
        return self.path.parent / f"{self.path.stem}.runs" / str(run_id)

    def add_probes(
        self, kind: str, records: Sequence[Any], name: str = "probe", tier: str = "tier"
    ) -> None:
        """Append one probe run's records (`name` and `tier`: the record fields that key them,
        e.g. a deployment record's path and workload); earlier runs stay as history."""
        now = time.time()
        data = [encode(r) for r in records]
        rows = [
            (now, kind, r["framework"], r[name], r[tier], r["status"], json.dumps(r)) for r in data
        ]
        with self._writing("store probe records"), self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO probes (measured_at, kind, framework, name, tier, status, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def probes(self, kind: str, record: type[R]) -> list[R]:
        """The newest record of each (framework, probe, tier) of a kind, as its record type,
        with its id and time."""
        rows = self._named(
            "SELECT id, measured_at, record FROM probes WHERE kind = ? AND id IN "
            "(SELECT max(id) FROM probes WHERE kind = ? GROUP BY framework, name, tier) "
            "ORDER BY id",
            kind,
            kind,
        )
        # the store's id and time, never a record's own (None until stored)
        stored = ({**json.loads(r["record"]), "id": r["id"], "measured_at": r["measured_at"]}
                  for r in rows)  # fmt: skip
        return [decode(record, found) for found in stored]

    def add_evidence(self, figures: list[Any]) -> None:
        """Append collected figures; history accumulates, nothing is overwritten."""
        now = time.time()
        with self._writing("store evidence"), self.db:
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

        rows = self._named(
            "SELECT framework, metric, value, as_of, source, qualifier FROM evidence "
            "ORDER BY collected_at"
        )
        return [Figure(**{**dict(r), "value": json.loads(r["value"])}) for r in rows]
