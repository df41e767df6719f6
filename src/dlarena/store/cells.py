"""Cells in the store: each written whole in one transaction, read back as typed records by
column name; the index of every cell the selection of the figures that count reads."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from dlarena.codec import decode, encode
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
from dlarena.store.connection import Connection
from dlarena.store.selection import Entry, device_kind

_CELL_COLUMNS = (
    "id, run_id, workload, runtime, tier, mode, env_name, status, reason, exit_code, "
    "stderr_tail, environment, phases, summary, spec, spec_hash, threading, warnings, load, "
    "memory, api, reruns"
)


# Per cell, what store/selection.py's Entry holds, read by SQLite from the JSON columns: the kind
# (spec hash or workload, runtime, tier, mode, threading policy), the machine (CPU model, cores,
# device) and whether it is ranked (CellResult.ranked: ran, passed parity, measured).
ENTRY_QUERY = """
    SELECT id, coalesce(spec_hash, workload) AS spec, runtime, tier, mode,
        coalesce(json_extract(threading, '$.policy'), 'fair') AS policy,
        json_extract(environment, '$.cpu_model') AS cpu_model,
        json_extract(environment, '$.cpu_count') AS cpu_count,
        coalesce(json_extract(environment, '$.setup.device'), '') AS device,
        status = 'ok' AND parity_passed = 1 AND summary IS NOT NULL AS ranked
    FROM cells ORDER BY id
"""


# the cell columns read as they are stored (the others hold JSON records)
_PLAIN_COLUMNS = (
    *("id", "run_id", "workload", "runtime", "tier", "mode", "env_name", "status", "reason"),
    *("exit_code", "stderr_tail", "spec", "spec_hash", "api", "reruns"),
)


class CellRows(Connection):
    """Writing and reading cells (with their parity checks, blocks and latencies)."""

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
            "INSERT INTO parity (cell_id, check_name, max_abs, max_rel, tolerance, passed, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (new_id, c.check, c.max_abs, c.max_rel, c.tolerance, c.passed, c.note or None)
                for c in cell.parity
            ],
        )
        self.db.executemany(
            "INSERT INTO blocks (cell_id, process, steps, seconds, round) VALUES (?, ?, ?, ?, ?)",
            [(new_id, b.process, b.steps, b.seconds, b.round) for b in cell.blocks],
        )
        self.db.executemany(
            "INSERT INTO latency VALUES (?, ?, ?)",
            [(new_id, size, json.dumps(list(seconds))) for size, seconds in cell.latency],
        )
        return new_id

    def history(self, runtime: str) -> list[sqlite3.Row]:
        """Every ranked cell of a runtime, oldest first, as what a history chart reads: id,
        run_id, workload, spec_hash, tier, mode, policy (threading), samples_per_s, low and high
        (its CI), framework_version, cpu_model."""
        return self._named(
            """SELECT id, run_id, workload, spec_hash, tier, mode,
                coalesce(json_extract(threading, '$.policy'), 'fair') AS policy,
                json_extract(summary, '$.samples_per_s') AS samples_per_s,
                json_extract(summary, '$.samples_per_s_low') AS low,
                json_extract(summary, '$.samples_per_s_high') AS high,
                json_extract(environment, '$.setup.framework_version') AS framework_version,
                json_extract(environment, '$.cpu_model') AS cpu_model
            FROM cells WHERE runtime = ? AND status = 'ok' AND parity_passed = 1
                AND summary IS NOT NULL ORDER BY id""",
            runtime,
        )

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
        return [
            Entry(
                r["id"],
                (r["spec"], r["runtime"], r["tier"], r["mode"], r["policy"]),
                (r["cpu_model"], r["cpu_count"], device_kind(r["device"])),
                r["ranked"] == 1,
            )
            for r in self._named(ENTRY_QUERY)
        ]

    def all_cells(self) -> list[CellResult]:
        """Every stored cell of every run, oldest first (without blocks and latencies)."""
        return [
            self._cell(row) for row in self._named(f"SELECT {_CELL_COLUMNS} FROM cells ORDER BY id")
        ]

    def with_raw(self, cells: list[CellResult]) -> list[CellResult]:
        """The cells with their blocks and latencies loaded."""
        return [self._with_raw(c) for c in cells]

    def _with_raw(self, cell: CellResult) -> CellResult:
        blocks = self.db.execute(
            "SELECT process, steps, seconds, round FROM blocks WHERE cell_id = ? ORDER BY rowid",
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
        checks = self._named(
            "SELECT check_name, max_abs, max_rel, tolerance, passed, note FROM parity "
            "WHERE cell_id = ?",
            row["id"],
        )

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
            parity=tuple(
                ParityCheck(
                    c["check_name"], c["max_abs"], c["max_rel"], c["tolerance"], bool(c["passed"]),
                    c["note"] or "",
                )
                for c in checks
            ),  # fmt: skip
        )
