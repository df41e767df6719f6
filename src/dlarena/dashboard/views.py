"""What the dashboard shows, computed once per state of the store and reused.

Every request that misses the cache reads through a connection of its own, opened read-only
(SQLite connections are not shared between requests). The store's state is SQLite's
`PRAGMA data_version` on one watching connection: it changes whenever another connection (a
bench storing a cell) commits, so the next request sees the new cells and no earlier answer is
served after a change. The cache holds at most ENTRIES answers, least recently used out first.
"""

from __future__ import annotations

import collections
import sqlite3
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from dlarena.store import Store

T = TypeVar("T")
ENTRIES = 64


class Views:
    def __init__(self, path: Path, entries: int = ENTRIES):
        self.path = path
        self.entries = entries
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[tuple[Hashable, Any], Any] = (
            collections.OrderedDict()
        )
        self._running: dict[tuple[Hashable, Any], threading.Event] = {}
        self._watch: sqlite3.Connection | None = None
        self.computed = 0  # answers computed (not served from the cache), for tests and load runs

    def state(self) -> Any:
        """A value that changes whenever the store's content does (None: no store yet)."""
        with self._lock:
            if self._watch is None:
                if not self.path.exists():
                    return None
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._watch = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return self._watch.execute("PRAGMA data_version").fetchone()[0]

    def get(self, key: Hashable, compute: Callable[[Store], T]) -> T:
        """The answer for `key` at the store's current state, computed once per state: requests
        that miss together wait for the one computing it."""
        cache_key = (key, self.state())
        while True:
            with self._lock:
                if cache_key in self._cache:
                    self._cache.move_to_end(cache_key)
                    return self._cache[cache_key]  # type: ignore[no-any-return]
                running = self._running.get(cache_key)
                if running is None:
                    self._running[cache_key] = threading.Event()
                    break
            running.wait()  # then read the cache again (or compute: the other one failed)
        try:
            value = self._compute(compute)
            with self._lock:
                self._cache[cache_key] = value
                while len(self._cache) > self.entries:
                    self._cache.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._running.pop(cache_key).set()

    def _compute(self, compute: Callable[[Store], T]) -> T:
        db = Store(self.path, create=False, read_only=True)
        try:
            value = compute(db)
        finally:
            db.close()
        with self._lock:
            self.computed += 1
        return value

    def close(self) -> None:
        with self._lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
