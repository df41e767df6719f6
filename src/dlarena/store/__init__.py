"""The SQLite store: runs, cells (typed records), parity, timing blocks, latencies, evidence.

The schema and its history are in `store/schema.py`; every write is its own transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dlarena.codec import decode, encode
from dlarena.errors import DlarenaError
from dlarena.records import (
    Block,
    CellResult,
    Environment,
    MachineLoad,
    Memory,
    ParityCheck,
    Phases,
    Threading,
    TimingSummary,
)
from dlarena.store.schema import MIGRATIONS, SCHEMA_VERSION
from dlarena.store.selection import Entry, device_kind

__all__ = ["SCHEMA_VERSION", "Store"]

_CELL_COLUMNS = (
    "id, run_id, workload, runtime, tier, mode, env_name, status, reason, exit_code, "
    "stderr_tail, environment, phases, summary, spec, spec_hash, threading, warnings, load, "
    "memory, api, reruns"
)


# Per cell, what store/selection.py's Entry holds, read by SQLite from the JSON columns: the kind
# (spec hash or workload, runtime, tier, mode, threading policy), the machine (CPU model, cores,
# device) and whether it is ranked (CellResult.ranked: ran, passed parity, measured).
ENTRY_QUERY = """
    SELECT id, coalesce(spec_hash, workload), runtime, tier, mode,
        json_extract(threading, '$.policy'),
        json_extract(environment, '$.cpu_model'), json_extract(environment, '$.cpu_count'),
        json_extract(environment, '$.setup.device'),
        status = 'ok' AND parity_passed = 1 AND summary IS NOT NULL
    FROM cells ORDER BY id
"""


# the cell columns read as they are stored (the others hold JSON records)
_PLAIN_COLUMNS = (
    *("id", "run_id", "workload", "runtime", "tier", "mode", "env_name", "status", "reason"),
    *("exit_code", "stderr_tail", "spec", "spec_hash", "api", "reruns"),
)
_RUN_COLUMNS = "id, started_at, finished_at, status, git_sha, config, host, host_pid"


def _run_info(row: tuple) -> dict[str, Any]:
    keys = ("id", "started_at", "finished_at", "status", "git_sha", "config")
    info = dict(zip(keys, row[:6], strict=True))
    info["config"] = json.loads(info["config"])
    if info["status"] == "running" and not _host_alive(row[6], row[7]):
        info["status"] = "interrupted"  # its host was killed: nothing runs it any more
    return info


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


class Store:
    """One SQLite file; every write is committed at once, so a killed run keeps its cells."""

    def __init__(self, path: Path, create: bool = True, read_only: bool = False):
        """Open the store at `path`; `create=False` (read commands): a missing file is not made,
        the store reads as empty. `read_only` (the dashboard): SQLite refuses every write."""
        self.path = path
        if path.is_dir():
            raise DlarenaError(f"store {path} is a directory; give a file path with --store")
        if read_only and path.exists():
            self._open_read_only(path)
            return
        target = str(path)
        if not create and not path.exists():
            target = ":memory:"  # nothing to read, and nothing is written for reading
        elif create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DlarenaError(
                    f"cannot make the store's folder {path.parent} ({exc.strerror}); "
                    "give --store a path in a writable folder"
                ) from None
        try:
            self.db = sqlite3.connect(target, isolation_level=None, timeout=30)
            with self._writing("update the schema"):
                if create:  # readers (the dashboard, report) never block a bench's writes
                    self.db.execute("PRAGMA journal_mode=WAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise DlarenaError(
                f"store {path} cannot be opened ({exc}); is it a dlarena store? move it aside"
            ) from None

    def _open_read_only(self, path: Path) -> None:
        try:
            # one request's connection: opened, used and closed by one request at a time, which
            # a web server may run on different threads
            self.db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise DlarenaError(
                f"store {path} cannot be opened ({exc}); is it a dlarena store? move it aside"
            ) from None
        if version != SCHEMA_VERSION:
            raise DlarenaError(
                f"store {path} has schema {version}, this dlarena reads {SCHEMA_VERSION}; "
                "run 'dlarena runs' once to upgrade it (or upgrade dlarena)"
            )

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """An I/O fault while writing becomes a user error naming the store and the fix."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "readonly" in text or "read-only" in text:
                fix = "make it writable, or give another --store"
            elif "full" in text:
                fix = "free disk space and rerun"
            else:
                fix = "check the file and its folder"
            raise DlarenaError(
                f"could not {what} in the store {self.path} ({text}); {fix}; "
                "everything stored before is kept"
            ) from None

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
        with self._writing("start a run"):
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, status, git_sha, config) "
                "VALUES (?, 'running', ?, ?)",
                (time.time(), git_sha, json.dumps(config)),
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

    def save_cell(self, run_id: int, cell: CellResult, cell_id: int | None = None) -> int:
        """Insert a cell (or rewrite cell `cell_id`) with its parity checks, blocks and latency,
        in a single transaction."""
        with self._writing("store a cell"), self.db:
            self.db.execute("BEGIN")
            if cell_id is not None:
                self._delete_cell(cell_id)
            return self._insert_cell(run_id, cell, cell_id)

    def _delete_cell(self, cell_id: int) -> None:
        for table in ("parity", "samples", "blocks", "latency"):
            self.db.execute(f"DELETE FROM {table} WHERE cell_id = ?", (cell_id,))
        self.db.execute("DELETE FROM cells WHERE id = ?", (cell_id,))

    def _insert_cell(self, run_id: int, cell: CellResult, cell_id: int | None) -> int:
        def as_json(record: object) -> str | None:
            return None if record is None else json.dumps(encode(record))

        cursor = self.db.execute(
            "INSERT INTO cells (id, run_id, workload, runtime, tier, mode, env_name, status, "
            "reason, exit_code, stderr_tail, parity_passed, environment, phases, summary, "
            "spec, spec_hash, threading, warnings, load, memory, api, reruns, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cell_id,
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
                as_json(cell.environment),
                as_json(cell.phases),
                as_json(cell.summary),
                cell.spec,
                cell.spec_hash,
                as_json(cell.threading),
                json.dumps(list(cell.warnings)),
                as_json(cell.load),
                as_json(cell.memory),
                cell.api,
                cell.reruns,
                time.time(),
            ),
        )
        new_id = int(cursor.lastrowid or 0)
        self.db.executemany(
            "INSERT INTO parity VALUES (?, ?, ?, ?, ?, ?)",
            [(new_id, c.check, c.max_abs, c.max_rel, c.tolerance, c.passed) for c in cell.parity],
        )
        self.db.executemany(
            "INSERT INTO blocks VALUES (?, ?, ?, ?)",
            [(new_id, b.process, b.steps, b.seconds) for b in cell.blocks],
        )
        self.db.executemany(
            "INSERT INTO latency VALUES (?, ?, ?)",
            [(new_id, size, json.dumps(list(seconds))) for size, seconds in cell.latency],
        )
        return new_id

    def latest_run(self) -> int | None:
        """The newest run that stored at least one cell."""
        row = self.db.execute("SELECT max(run_id) FROM cells").fetchone()
        return row[0]

    def run_info(self, run_id: int) -> dict[str, Any]:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            known = self.db.execute("SELECT min(id), max(id) FROM runs").fetchone()
            have = f"runs {known[0]} to {known[1]}" if known[0] is not None else "no runs"
            raise DlarenaError(f"run {run_id} is not in {self.path} (it has {have})")
        return _run_info(row)

    def runs(self, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Runs newest first, with their cell counts: every run, or `limit` of them from the
        `offset`-th newest (one query, however many runs the store holds)."""
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS}, (SELECT count(*) FROM cells WHERE cells.run_id = runs.id) "
            "FROM runs ORDER BY id DESC LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        ).fetchall()
        return [{**_run_info(row[:-1]), "cells": row[-1]} for row in rows]

    def run_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM runs").fetchone()[0])

    def history(self, runtime: str) -> list[tuple[Any, ...]]:
        """Every ranked cell of a runtime, oldest first, as what a history chart reads: (cell
        id, run id, workload, spec hash, tier, mode, threading policy, samples/s, its CI low
        and high, framework version, CPU model)."""
        return self.db.execute(
            """SELECT id, run_id, workload, spec_hash, tier, mode,
                coalesce(json_extract(threading, '$.policy'), 'fair'),
                json_extract(summary, '$.samples_per_s'),
                json_extract(summary, '$.samples_per_s_low'),
                json_extract(summary, '$.samples_per_s_high'),
                json_extract(environment, '$.setup.framework_version'),
                json_extract(environment, '$.cpu_model')
            FROM cells WHERE runtime = ? AND status = 'ok' AND parity_passed = 1
                AND summary IS NOT NULL ORDER BY id""",
            (runtime,),
        ).fetchall()

    def reference_dir(self, run_id: int) -> Path:
        """Where a run's reference files live: beside this store, one folder per run."""
        return self.path.parent / f"{self.path.stem}.runs" / str(run_id)

    def cells(self, run_id: int, raw: bool = False) -> list[CellResult]:
        """The run's cells in plan order; `raw` also loads each cell's blocks and latencies."""
        rows = self._named(
            f"SELECT {_CELL_COLUMNS} FROM cells WHERE run_id = ? ORDER BY id", run_id
        )
        cells = [self._cell(row) for row in rows]
        return self.with_raw(cells) if raw else cells

    def cells_by_id(self, ids: Sequence[int], raw: bool = False) -> list[CellResult]:
        """These cells, in the order given; `raw` also loads their blocks and latencies."""
        cells = []
        for cell_id in ids:
            (row,) = self._named(f"SELECT {_CELL_COLUMNS} FROM cells WHERE id = ?", cell_id)
            cells.append(self._cell(row))
        return self.with_raw(cells) if raw else cells

    def cell_entries(self) -> list[Entry]:
        """What the selection of the figures that count reads of every cell, without loading
        any (store/selection.py: kind, machine, ranked)."""
        rows = self.db.execute(ENTRY_QUERY).fetchall()
        return [
            Entry(r[0], (*r[1:5], r[5] or "fair"), (r[6], r[7], device_kind(r[8] or "")), r[9] == 1)
            for r in rows
        ]

    def all_cells(self) -> list[CellResult]:
        """Every stored cell of every run, oldest first (without blocks and latencies)."""
        return [
            self._cell(row) for row in self._named(f"SELECT {_CELL_COLUMNS} FROM cells ORDER BY id")
        ]

    def _named(self, query: str, *args: Any) -> list[sqlite3.Row]:
        """The rows of `query`, read by column name."""
        cursor = self.db.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(query, args).fetchall()

    def with_raw(self, cells: list[CellResult]) -> list[CellResult]:
        """The cells with their blocks and latencies loaded."""
        return [self._with_raw(c) for c in cells]

    def _with_raw(self, cell: CellResult) -> CellResult:
        blocks = self.db.execute(
            "SELECT process, steps, seconds FROM blocks WHERE cell_id = ? ORDER BY rowid",
            (cell.id,),
        ).fetchall()
        latency = self.db.execute(
            "SELECT batch_size, seconds FROM latency WHERE cell_id = ? ORDER BY rowid", (cell.id,)
        ).fetchall()
        return dataclasses.replace(
            cell,
            blocks=tuple(Block(*row) for row in blocks),
            latency=tuple((size, tuple(json.loads(s))) for size, s in latency),
        )

    def _cell(self, row: sqlite3.Row) -> CellResult:
        checks = self.db.execute(
            "SELECT check_name, max_abs, max_rel, tolerance, passed FROM parity WHERE cell_id = ?",
            (row["id"],),
        ).fetchall()

        def record(column: str, kind: Any) -> Any:
            return decode(kind, json.loads(row[column])) if row[column] else None

        return CellResult(
            **{name: row[name] for name in _PLAIN_COLUMNS},
            environment=record("environment", Environment) or decode(Environment, {}),
            phases=record("phases", Phases) or decode(Phases, {}),
            summary=record("summary", TimingSummary),
            threading=record("threading", Threading),
            warnings=tuple(json.loads(row["warnings"])),
            load=tuple(decode(MachineLoad, v) for v in json.loads(row["load"])),
            memory=record("memory", Memory),
            parity=tuple(ParityCheck(c[0], c[1], c[2], c[3], bool(c[4])) for c in checks),
        )

    def add_probes(
        self, kind: str, records: list[dict[str, Any]], name: str = "probe", tier: str = "tier"
    ) -> None:
        """Append one probe run's records (`name` and `tier`: the record fields that key them,
        e.g. a deployment record's path and workload); earlier runs stay as history."""
        now = time.time()
        rows = [
            (now, kind, r["framework"], r[name], r[tier], r["status"], json.dumps(r))
            for r in records
        ]
        with self._writing("store probe records"), self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO probes (measured_at, kind, framework, name, tier, status, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def probe_records(self, kind: str) -> list[dict[str, Any]]:
        """The newest record of each (framework, probe, tier), with its id and time."""
        rows = self.db.execute(
            "SELECT id, measured_at, record FROM probes WHERE kind = ? AND id IN "
            "(SELECT max(id) FROM probes WHERE kind = ? GROUP BY framework, name, tier) "
            "ORDER BY id",
            (kind, kind),
        ).fetchall()
        return [{"id": r[0], "measured_at": r[1], **json.loads(r[2])} for r in rows]

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

        rows = self.db.execute(
            "SELECT framework, metric, value, as_of, source, qualifier FROM evidence "
            "ORDER BY collected_at"
        ).fetchall()
        return [Figure(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]
