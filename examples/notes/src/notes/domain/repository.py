"""Where notes are kept. ``NoteRepository`` is the port; ``SqliteNoteRepository`` the default adapter.

Swap the adapter (another database, an HTTP backend) by implementing the same four methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from ..core import events
from ..core.store import Migration, connect, migrate, transaction
from .models import Note


class NoteRepository(Protocol):
    def get(self, slug: str) -> Note | None: ...
    def add(self, note: Note) -> bool: ...
    def replace(self, note: Note, expected_version: int) -> bool: ...
    def remove(self, slug: str) -> Note | None: ...
    def list(self, tag: str | None, limit: int, after: str | None) -> list[Note]: ...


#: The store's schema, one step per change, run in order on every store that has not run it yet
#: (see core/store.py). Append a step for any change to what is stored; never edit a shipped one.
MIGRATIONS: tuple[Migration, ...] = (
    "CREATE TABLE IF NOT EXISTS notes (slug TEXT PRIMARY KEY, title TEXT NOT NULL,"
    " body TEXT NOT NULL, tags TEXT NOT NULL, version INTEGER NOT NULL)",
    # Publication (domain/publishing.py): a note's state while its saga runs, and after.
    "CREATE TABLE publications (slug TEXT PRIMARY KEY, saga_id TEXT NOT NULL, state TEXT NOT NULL)",
    # Facts about published notes, committed with the change they describe (core/events.py).
    events.OUTBOX_MIGRATION,
)


class SqliteNoteRepository:
    """Notes in one SQLite file; safe for several threads and processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()  # sqlite3 connections must stay on their thread
        migrate(self._conn(), MIGRATIONS)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    @staticmethod
    def _note(row: sqlite3.Row) -> Note:
        return Note(
            slug=row["slug"], title=row["title"], body=row["body"], tags=json.loads(row["tags"]), version=row["version"]
        )

    def get(self, slug: str) -> Note | None:
        row = self._conn().execute("SELECT * FROM notes WHERE slug = ?", (slug,)).fetchone()
        return self._note(row) if row else None

    def add(self, note: Note) -> bool:
        with transaction(self._conn(), write=True) as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO notes (slug, title, body, tags, version) VALUES (?, ?, ?, ?, ?)",
                (note.slug, note.title, note.body, json.dumps(note.tags), note.version),
            )
            return cur.rowcount == 1

    def replace(self, note: Note, expected_version: int) -> bool:
        with transaction(self._conn(), write=True) as conn:
            cur = conn.execute(
                "UPDATE notes SET title = ?, body = ?, tags = ?, version = ? WHERE slug = ? AND version = ?",
                (note.title, note.body, json.dumps(note.tags), note.version, note.slug, expected_version),
            )
            return cur.rowcount == 1

    def remove(self, slug: str) -> Note | None:
        with transaction(self._conn(), write=True) as conn:
            row = conn.execute("SELECT * FROM notes WHERE slug = ?", (slug,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM notes WHERE slug = ?", (slug,))
            published = conn.execute("DELETE FROM publications WHERE slug = ? AND state = 'published'", (slug,))
            if published.rowcount:  # the search index must forget it: the fact commits with the delete
                events.record(conn, "note.deleted", {"slug": slug})
            conn.execute("DELETE FROM publications WHERE slug = ?", (slug,))
            return self._note(row)

    # Publication, one method per saga step (domain/publishing.py). Each is idempotent for its
    # saga: a step re-run after a crash finds its own work done and changes nothing.

    def add_draft(self, note: Note, saga_id: str) -> bool:
        """Store ``note`` as a draft of saga ``saga_id``; False when the slug is someone else's."""
        with transaction(self._conn(), write=True) as conn:
            mine = conn.execute("SELECT saga_id FROM publications WHERE slug = ?", (note.slug,)).fetchone()
            if mine is not None:
                return bool(mine["saga_id"] == saga_id)
            added = conn.execute(
                "INSERT OR IGNORE INTO notes (slug, title, body, tags, version) VALUES (?, ?, ?, ?, ?)",
                (note.slug, note.title, note.body, json.dumps(note.tags), note.version),
            )
            if added.rowcount == 0:
                return False
            conn.execute("INSERT INTO publications (slug, saga_id, state) VALUES (?, ?, 'draft')", (note.slug, saga_id))
            return True

    def drop_draft(self, slug: str, saga_id: str) -> bool:
        """Delete the draft saga ``saga_id`` stored; False when it is already gone."""
        with transaction(self._conn(), write=True) as conn:
            mine = conn.execute(
                "DELETE FROM publications WHERE slug = ? AND saga_id = ? AND state = 'draft'", (slug, saga_id)
            )
            if mine.rowcount == 0:
                return False
            conn.execute("DELETE FROM notes WHERE slug = ?", (slug,))
            return True

    def mark_published(self, slug: str, saga_id: str) -> Note | None:
        """Publish saga ``saga_id``'s draft and record ``note.published`` in the same transaction."""
        with transaction(self._conn(), write=True) as conn:
            row = conn.execute("SELECT * FROM notes WHERE slug = ?", (slug,)).fetchone()
            state = conn.execute(
                "SELECT state FROM publications WHERE slug = ? AND saga_id = ?", (slug, saga_id)
            ).fetchone()
            if row is None or state is None:
                return None
            note = self._note(row)
            if state["state"] == "draft":
                conn.execute("UPDATE publications SET state = 'published' WHERE slug = ?", (slug,))
                events.record(conn, "note.published", note.model_dump())
            return note

    def publication_state(self, slug: str) -> str | None:
        row = self._conn().execute("SELECT state FROM publications WHERE slug = ?", (slug,)).fetchone()
        return None if row is None else str(row["state"])

    def list(self, tag: str | None, limit: int, after: str | None) -> list[Note]:
        """Up to ``limit`` notes with a slug after ``after``, in slug order (a keyset page:
        each page costs the same however deep it is, and inserts never shift later pages)."""
        clauses, args = ["slug > ?"], [after or ""]
        if tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(notes.tags) WHERE value = ?)")
            args.append(tag)
        rows = (
            self._conn()
            .execute(f"SELECT * FROM notes WHERE {' AND '.join(clauses)} ORDER BY slug LIMIT ?", (*args, limit))
            .fetchall()
        )
        return [self._note(r) for r in rows]
