"""Storage behind the registry: an interface and the embedded SQLite backend.

The service keeps the working set in memory and writes through to a repository:
each change is one atomic batch (records put, records deleted, new revision).
Heartbeats never reach the repository; status transitions do.
The etcd backend lives in ``etcd.py`` and implements the same interface.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from .models import Instance

Key = tuple[str, str]


class StaleRevision(Exception):
    """Another process changed the store since this one loaded it (reload, then retry)."""


class Repository(Protocol):
    """What the service needs from a storage backend."""

    def load(self) -> tuple[int, list[Instance]]:
        """Return the stored revision and every stored record."""
        ...

    def apply(self, puts: Sequence[Instance], deletes: Sequence[Key], base: int, revision: int) -> None:
        """Atomically store ``puts``, remove ``deletes`` and move the revision base -> revision.

        Raises StaleRevision when the stored revision is not ``base``; raises
        StoreUnavailable when the backend cannot be reached.
        """
        ...

    def changed_elsewhere(self) -> bool:
        """True when another process may have written since the last load or apply."""
        ...

    def mark_alive(self, keys: Iterable[Key]) -> None:
        """Mirror liveness for instances that heartbeated recently (no-op where unneeded)."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    name TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (name, instance_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', '0');
"""


class SQLiteRepository:
    """Embedded store: one SQLite file in WAL mode; every batch is one transaction."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._data_version = self._version()

    def _version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def load(self) -> tuple[int, list[Instance]]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                revision = int(self._db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])
                rows = self._db.execute("SELECT record FROM instances").fetchall()
            finally:
                self._db.execute("COMMIT")
            self._data_version = self._version()
        return revision, [Instance.model_validate_json(row[0]) for row in rows]

    def apply(self, puts: Sequence[Instance], deletes: Sequence[Key], base: int, revision: int) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                stored = int(db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])
                if stored != base:
                    raise StaleRevision(f"store is at revision {stored}, expected {base}")
                if puts:
                    db.executemany(
                        "INSERT INTO instances (name, instance_id, record) VALUES (?, ?, ?) "
                        "ON CONFLICT (name, instance_id) DO UPDATE SET record=excluded.record",
                        [(r.name, r.instance_id, r.model_dump_json()) for r in puts],
                    )
                if deletes:
                    db.executemany("DELETE FROM instances WHERE name=? AND instance_id=?", list(deletes))
                db.execute("UPDATE meta SET value=? WHERE key='revision'", (str(revision),))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._data_version = self._version()

    def changed_elsewhere(self) -> bool:
        with self._lock:
            return self._version() != self._data_version

    def mark_alive(self, keys: Iterable[Key]) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()
