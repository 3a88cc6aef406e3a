"""The service: every operation of the search server, as plain Python.

Interfaces never add behaviour of their own; they call these methods through the operation
table (``operations.py``). The index is also kept current by the notes server's events
(``repository.on_note_event``, a consumer the server runs at start-up, handles each fact).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.peers import Peers
from .errors import EntryNotFound, NothingToIndex
from .models import Body, Entry, Hits, IndexStats, Key, Limit, Query, Removed, Slug, Tag, Title, Version
from .repository import SqliteIndex, words_of

if TYPE_CHECKING:
    from ..core.settings import Settings

STORE = "search.sqlite3"


class Service:
    def __init__(self, index: SqliteIndex, peers: Peers | None = None, settings: Settings | None = None) -> None:
        self.index = index
        self.peers = peers if peers is not None else Peers([], None)  # search calls no peer
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Service:
        return cls(SqliteIndex(settings.data_dir / STORE), Peers.from_settings(settings), settings)

    def close(self) -> None:
        self.peers.close()

    def index_note(
        self,
        slug: Slug,
        title: Title,
        body: Body = "",
        tags: list[Tag] = [],  # noqa: B006
        version: Version = 1,
        key: Key | None = None,
    ) -> Entry:
        """Index a note (or a newer version of it). Pass key to make a repeat of the request change nothing."""
        if not words_of(title, body, *tags):
            raise NothingToIndex(f"Note {slug!r} has no word of two or more letters or digits")
        self.index.index(slug, title, body, tags, version, key)
        return self.get_entry(slug)

    def get_entry(self, slug: Slug) -> Entry:
        """Read one indexed note."""
        entry = self.index.get(slug)
        if entry is None:
            raise EntryNotFound(f"No note {slug!r} in the index")
        return entry

    def unindex_note(self, slug: Slug) -> Removed:
        """Remove a note from the index."""
        if not self.index.remove(slug):
            raise EntryNotFound(f"No note {slug!r} in the index")
        return Removed(slug=slug)

    def search_notes(self, q: Query, limit: Limit = 20) -> Hits:
        """The notes holding every word of q (words of two or more letters or digits), in slug order."""
        words = words_of(q)
        return Hits(query=words, items=self.index.search(words, limit) if words else [])

    def index_stats(self) -> IndexStats:
        """How many notes are indexed, and how many requests and events the index has applied."""
        entries, keyed, handled = self.index.counts()
        return IndexStats(entries=entries, keyed_requests=keyed, events_handled=handled)
