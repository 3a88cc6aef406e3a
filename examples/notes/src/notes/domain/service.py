"""The service: every operation of this capability server, as plain Python.

Interfaces never add behaviour of their own; they call these methods through the operation
table (``operations.py``). Parameters are keyword arguments with type hints: the hints are the
input schema on every interface.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import TYPE_CHECKING

from ..core import saga as sagas
from ..core.errors import validation_failed
from ..core.longrun import NEVER, NO_PROGRESS, Cancellation, Progress
from ..core.peers import Peers
from ..core.saga_operation import follow
from . import publishing  # declares the publish saga: the server launches the saga runtime for it
from .errors import NoteAlreadyExists, NoteNotFound, VersionConflict
from .models import Body, Cursor, Limit, Note, NoteList, NotesExport, PauseMs, Publication, Slug, Tag, Title, Version
from .repository import NoteRepository, SqliteNoteRepository

if TYPE_CHECKING:
    from ..core.settings import Settings


_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def cursor_after(slug: str) -> str:
    """The cursor of the page that starts after ``slug``. Callers treat it as opaque."""
    return base64.urlsafe_b64encode(f"n1:{slug}".encode()).decode().rstrip("=")


def _slug_of(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    slug = text.removeprefix("n1:")
    if not text.startswith("n1:") or not _SLUG.match(slug):
        msg = "Not a cursor from this server: pass next_cursor unchanged"
        raise validation_failed([{"loc": ["cursor"], "msg": msg, "type": "value_error"}])
    return slug


class Service:
    def __init__(
        self, repository: NoteRepository, peers: Peers | None = None, settings: Settings | None = None
    ) -> None:
        self.repository = repository
        # Other capability servers, by name: self.peers.call("name", "operation", {...})
        self.peers = peers if peers is not None else Peers([], None)
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Service:
        store = settings.data_dir / "notes.sqlite3"
        service = cls(SqliteNoteRepository(store), Peers.from_settings(settings), settings)
        publishing.serve(str(store), service)  # before the server launches sagas: resumed steps look it up
        return service

    def close(self) -> None:
        self.peers.close()

    def create_note(self, slug: Slug, title: Title, body: Body = "", tags: list[Tag] = []) -> Note:  # noqa: B006
        """Create a note under a new slug."""
        note = Note(slug=slug, title=title, body=body, tags=sorted(set(tags)), version=1)
        if not self.repository.add(note):
            raise NoteAlreadyExists(f"A note with slug {slug!r} already exists")
        return note

    def get_note(self, slug: Slug) -> Note:
        """Fetch one note by its slug."""
        note = self.repository.get(slug)
        if note is None:
            raise NoteNotFound(f"No note with slug {slug!r}")
        return note

    def list_notes(self, tag: Tag | None = None, limit: Limit = 50, cursor: Cursor | None = None) -> NoteList:
        """List notes in slug order, a page at a time, optionally only those carrying a tag.

        Pass the answer's next_cursor as cursor to read the next page; it is null on the last.
        """
        after = None if cursor is None else _slug_of(cursor)
        items = self.repository.list(tag, limit + 1, after)  # one extra tells whether more follow
        more = len(items) > limit
        items = items[:limit]
        return NoteList(items=items, next_cursor=cursor_after(items[-1].slug) if more else None)

    def update_note(
        self,
        slug: Slug,
        title: Title | None = None,
        body: Body | None = None,
        tags: list[Tag] | None = None,
        expected_version: Version | None = None,
    ) -> Note:
        """Change a note's title, body or tags; pass expected_version to guard against lost updates."""
        current = self.get_note(slug)
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict(f"Note {slug!r} is at version {current.version}, not {expected_version}")
        changed = current.model_copy(
            update={
                "title": current.title if title is None else title,
                "body": current.body if body is None else body,
                "tags": current.tags if tags is None else sorted(set(tags)),
                "version": current.version + 1,
            }
        )
        if not self.repository.replace(changed, current.version):
            raise VersionConflict(f"Note {slug!r} changed while it was being updated")
        return changed

    def delete_note(self, slug: Slug) -> Note:
        """Delete a note and return what it held."""
        note = self.repository.remove(slug)
        if note is None:
            raise NoteNotFound(f"No note with slug {slug!r}")
        return note

    def export_notes(
        self,
        tag: Tag | None = None,
        pause_ms: PauseMs = 0,
        *,
        progress: Progress = NO_PROGRESS,
        cancel: Cancellation = NEVER,
    ) -> NotesExport:
        """Write every note (or those carrying a tag) into one Markdown document, note by note.

        A long-running operation: it reports progress after each note and stops when cancelled.
        """
        notes: list[Note] = []
        while page := self.repository.list(tag, 200, notes[-1].slug if notes else None):
            notes += page
        parts = []
        for done, note in enumerate(notes, start=1):
            cancel.wait(pause_ms / 1000)  # returns at once on a cancel request
            cancel.raise_if_requested()
            parts.append(f"# {note.title}\n" + (f"\n{note.body}\n" if note.body else ""))
            progress.report(done / len(notes), f"exported {note.slug}")
        if not notes:
            progress.report(1.0, "no notes to export")
        return NotesExport(count=len(notes), markdown="\n".join(parts))

    def publish_note(
        self,
        slug: Slug,
        title: Title,
        body: Body = "",
        tags: list[Tag] = [],  # noqa: B006
        *,
        progress: Progress = NO_PROGRESS,
        cancel: Cancellation = NEVER,
    ) -> Publication:
        """Publish a new note: store it as a draft, index it on the search server, mark it published.

        A long-running operation run as a saga (domain/publishing.py): each step runs once, and
        a step that fails undoes the earlier ones (the note is then not kept; the operation fails
        with saga_failed, naming the step and its error). While the search server is unreachable
        the saga waits for it; its progress message says so. A cancel request undoes what the
        saga did before its next step, unless its last step completed first.
        """
        if self.settings is None:
            raise RuntimeError("publish_note needs a service made by Service.from_settings")
        if self.repository.get(slug) is not None:
            raise NoteAlreadyExists(f"A note with slug {slug!r} already exists")
        if not sagas.launched():
            # Not in a server (which launched sagas at start-up): a CLI command or a test. Its own
            # settings name the saga database; it resumes nothing a server may be running.
            sagas.launch(self.settings, resume=False)
        saga_id = f"publish-{slug}-{uuid.uuid4().hex[:12]}"
        note = {"slug": slug, "title": title, "body": body, "tags": sorted(set(tags))}
        store = str(self.settings.data_dir / "notes.sqlite3")
        with publishing.reporting(saga_id, progress):
            outcome = follow(publishing.PUBLISH, {"store": store, "note": note}, progress, cancel, saga_id=saga_id)
        progress.report(1.0, f"completed: saga {saga_id}")
        return Publication(
            slug=slug,
            state="published",
            version=outcome.results["publish"]["version"],
            indexed=outcome.results["index"]["indexed"],
        )
