"""The store's SQLite connection: opened for writing (WAL, the schema migrated) or read-only,
I/O faults turned into user errors naming the store and the fix."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlarena.errors import DlarenaError
from dlarena.store.schema import MIGRATIONS, SCHEMA_VERSION


class Connection:
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

    def _named(self, query: str, *args: Any) -> list[sqlite3.Row]:
        """The rows of `query`, read by column name."""
        cursor = self.db.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(query, args).fetchall()
