"""Storage behind the registry: an interface and the embedded SQLite backend.

The service keeps the working set in memory and writes through to a repository:
each change is one atomic batch (records put, records deleted, new revision).
Heartbeats never reach the repository; status transitions do.
The etcd backend lives in ``etcd.py`` and implements the same interface.

Every storage call is bounded by a deadline (``timeout``): past it the call raises
``StoreUnavailable`` and the batch is not applied, so the service can answer a retryable 503
instead of waiting.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from .commits import CommitWatch
from .errors import StoreUnavailable
from .models import Instance, Interfaces

Key = tuple[str, str]
log = logging.getLogger("manifest.registry")


def dump_record(record: Instance) -> str:
    """The stored form of a record: its fields plus the lease digest (never answered)."""
    data = record.model_dump(mode="json")
    if record._lease_digest:
        data["lease_digest"] = record._lease_digest
    return json.dumps(data, separators=(",", ":"))


def load_record(text: str | bytes) -> Instance:
    """A stored record; one written before today's input rules is kept as it is, not dropped."""
    data = json.loads(text)
    digest = data.pop("lease_digest", None)
    try:
        record = Instance.model_validate(data)
    except ValidationError:
        log.warning("stored record %s/%s predates the input rules; kept as stored", data.get("name"), data.get("id"))
        interfaces = Interfaces.model_construct(**(data.pop("interfaces", None) or {}))
        record = Instance.model_construct(interfaces=interfaces, **data)
    record._lease_digest = digest
    return record


class StaleRevision(Exception):
    """Another process changed the store since this one loaded it (reload, then retry)."""


class Repository(Protocol):
    """What the service needs from a storage backend."""

    #: Whether ``mark_alive`` mirrors liveness to the store (etcd leases) or does nothing.
    mirrors_liveness: bool

    def load(self) -> tuple[int, list[Instance]]:
        """Return the stored revision and every stored record."""
        ...

    def apply(
        self, puts: Sequence[Instance], deletes: Sequence[Key], base: int, revision: int, *, until: float | None = None
    ) -> None:
        """Atomically store ``puts``, remove ``deletes`` and move the revision base -> revision.

        Raises StaleRevision when the stored revision is not ``base``; raises
        StoreUnavailable when the backend cannot be reached before ``until`` (a
        ``time.monotonic()`` instant; default: now plus the repository's timeout).
        """
        ...

    def changed_elsewhere(self) -> bool:
        """True when another process may have written since the last load or apply."""
        ...

    def mark_alive(self, keys: Iterable[Key]) -> None:
        """Mirror liveness for instances that heartbeated recently (no-op where unneeded)."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store would take a write now (readiness)."""
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
    """Embedded store: one SQLite file in WAL mode; every batch is one transaction.

    ``timeout`` is SQLite's busy timeout: a write that cannot take the file's write lock
    within it (another process holds it) raises StoreUnavailable having changed nothing.
    """

    mirrors_liveness = False

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=timeout)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self._db.executescript(_SCHEMA)
        self._data_version = self._version()
        self._commits = CommitWatch(self.path)  # after the first read: SQLite made the -shm file

    def _version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    @contextmanager
    def _locked(self, timeout: float | None = None) -> Iterator[None]:
        # the connection is shared: a caller waits for it no longer than the store deadline
        if not self._lock.acquire(timeout=self.timeout if timeout is None else max(timeout, 0.0)):
            raise StoreUnavailable(f"the SQLite store {self.path} stayed busy for {self.timeout:g}s; nothing changed")
        try:
            yield
        finally:
            self._lock.release()

    def load(self) -> tuple[int, list[Instance]]:
        with self._locked():
            try:
                self._db.execute("BEGIN")
                try:
                    revision = int(self._db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])
                    rows = self._db.execute("SELECT record FROM instances").fetchall()
                finally:
                    self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"the SQLite store {self.path} cannot be read: {exc}") from None
            self._data_version = self._version()
        return revision, [load_record(row[0]) for row in rows]

    def apply(
        self, puts: Sequence[Instance], deletes: Sequence[Key], base: int, revision: int, *, until: float | None = None
    ) -> None:
        try:
            self._apply(puts, deletes, base, revision, until)
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full, read-only
            raise StoreUnavailable(
                f"the SQLite store {self.path} did not take the write: {exc}; nothing changed"
            ) from None

    def _apply(
        self, puts: Sequence[Instance], deletes: Sequence[Key], base: int, revision: int, until: float | None
    ) -> None:
        left = self.timeout if until is None else until - time.monotonic()
        with self._locked(left):
            db = self._db
            left = self.timeout if until is None else until - time.monotonic()
            # SQLite's own wait for the file's write lock gets what is left of the deadline
            db.execute(f"PRAGMA busy_timeout={max(int(left * 1000), 1)}")
            db.execute("BEGIN IMMEDIATE")
            try:
                stored = int(db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])
                if stored != base:
                    raise StaleRevision(f"store is at revision {stored}, expected {base}")
                if puts:
                    db.executemany(
                        "INSERT INTO instances (name, instance_id, record) VALUES (?, ?, ?) "
                        "ON CONFLICT (name, instance_id) DO UPDATE SET record=excluded.record",
                        [(r.name, r.instance_id, dump_record(r)) for r in puts],
                    )
                if deletes:
                    db.executemany("DELETE FROM instances WHERE name=? AND instance_id=?", list(deletes))
                db.execute("UPDATE meta SET value=? WHERE key='revision'", (str(revision),))
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._data_version = self._version()

    def changed_elsewhere(self) -> bool:
        if self._commits.unchanged():  # nobody committed since the last check: no statement
            return False
        header = self._commits.header()  # read first: a commit after it is seen next time
        with self._locked():
            try:
                changed = self._version() != self._data_version
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"the SQLite store {self.path} cannot be read: {exc}") from None
        if not changed:  # when changed, ask again until a reload has caught up
            self._commits.settled(header)
        return changed

    def mark_alive(self, keys: Iterable[Key]) -> None:
        return None

    def ping(self) -> None:
        """Take and release the write lock on a connection of its own (the shared one may be busy)."""
        try:
            # mode=rw: a store whose file is gone is reported, not silently recreated empty
            probe = sqlite3.connect(
                f"file:{self.path}?mode=rw", uri=True, isolation_level=None, timeout=min(self.timeout, 1.0)
            )
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            finally:
                probe.close()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the SQLite store {self.path} would not take a write: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._commits.close()
            self._db.close()
