"""The index in one SQLite file: entries, the words of each, the keys of applied requests, and
the inbox and log of the events handled (core/events.py)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path

from ..core import events
from ..core.store import Migration, connect, migrate, transaction
from .models import Entry, Hit

WORD = re.compile(r"[a-z0-9]{2,}")

MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE entries (slug TEXT PRIMARY KEY, title TEXT NOT NULL, tags TEXT NOT NULL, version INTEGER NOT NULL);
    CREATE TABLE words (word TEXT NOT NULL, slug TEXT NOT NULL, PRIMARY KEY (word, slug)) WITHOUT ROWID;
    CREATE TABLE applied (key TEXT PRIMARY KEY, slug TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE event_log (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, subject TEXT NOT NULL,
        slug TEXT NOT NULL, at REAL NOT NULL);
    """,
    events.INBOX_MIGRATION,
)


def words_of(*texts: str) -> list[str]:
    return sorted({word for text in texts for word in WORD.findall(text.lower())})


def put(conn: sqlite3.Connection, slug: str, title: str, body: str, tags: list[str], version: int) -> None:
    """Index a note in the caller's write transaction; an older version than the entry's is ignored."""
    row = conn.execute("SELECT version FROM entries WHERE slug = ?", (slug,)).fetchone()
    if row is not None and row["version"] > version:
        return
    conn.execute(
        "INSERT INTO entries (slug, title, tags, version) VALUES (?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE"
        " SET title = excluded.title, tags = excluded.tags, version = excluded.version",
        (slug, title, json.dumps(sorted(set(tags))), version),
    )
    conn.execute("DELETE FROM words WHERE slug = ?", (slug,))
    conn.executemany("INSERT INTO words (word, slug) VALUES (?, ?)", [(w, slug) for w in words_of(title, body, *tags)])


def drop(conn: sqlite3.Connection, slug: str) -> bool:
    conn.execute("DELETE FROM words WHERE slug = ?", (slug,))
    return conn.execute("DELETE FROM entries WHERE slug = ?", (slug,)).rowcount == 1


# The server runs this consumer at start-up (core/runtime.py): with ``SEARCH_NATS_URL`` set, as the
# durable JetStream consumer ``search`` on ``SEARCH_EVENTS_STREAM``, so a search server that was
# down reads on from the last event it acknowledged; without one, on the in-process bus (useful
# only when notes runs in the same process). The name is the inbox key: keep it.
@events.consumes("note.*", name="search")
def on_note_event(conn: sqlite3.Connection, event: events.Event) -> None:
    """The notes server's facts, in the inbox's transaction: each event is handled once."""
    data = event.data
    if event.subject == "note.published":
        put(conn, data["slug"], data["title"], data.get("body", ""), data.get("tags", []), data["version"])
    elif event.subject == "note.deleted":
        drop(conn, data["slug"])
    else:
        return  # a fact this index has no use for
    conn.execute(
        "INSERT INTO event_log (event_id, subject, slug, at) VALUES (?, ?, ?, ?)",
        (event.id, event.subject, data["slug"], time.time()),
    )


class SqliteIndex:
    """The index; safe for several threads and processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()  # sqlite3 connections must stay on their thread
        migrate(self._conn(), MIGRATIONS)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def index(self, slug: str, title: str, body: str, tags: list[str], version: int, key: str | None) -> None:
        with transaction(self._conn(), write=True) as conn:
            if key is not None:
                seen = conn.execute(
                    "INSERT OR IGNORE INTO applied (key, slug, at) VALUES (?, ?, ?)", (key, slug, time.time())
                )
                if seen.rowcount == 0:
                    return  # this request was applied before: a retry, or a step run again after a crash
            put(conn, slug, title, body, tags, version)

    def remove(self, slug: str) -> bool:
        with transaction(self._conn(), write=True) as conn:
            return drop(conn, slug)

    def get(self, slug: str) -> Entry | None:
        conn = self._conn()
        row = conn.execute("SELECT * FROM entries WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            return None
        applied = conn.execute("SELECT count(*) FROM applied WHERE slug = ?", (slug,)).fetchone()[0]
        return Entry(
            slug=row["slug"], title=row["title"], tags=json.loads(row["tags"]), version=row["version"], applied=applied
        )

    def search(self, words: list[str], limit: int) -> list[Hit]:
        marks = ",".join("?" * len(words))
        rows = self._conn().execute(
            f"SELECT e.slug, e.title FROM entries e JOIN words w ON w.slug = e.slug WHERE w.word IN ({marks})"
            " GROUP BY e.slug HAVING count(*) = ? ORDER BY e.slug LIMIT ?",
            (*words, len(words), limit),
        )
        return [Hit(slug=row["slug"], title=row["title"]) for row in rows]

    def counts(self) -> tuple[int, int, int]:
        conn = self._conn()
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("entries", "applied", "event_log")
        )
