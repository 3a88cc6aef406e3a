"""Unit tests of the search domain: the index, idempotent requests and the notes server's events."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.core import events
from search.core.store import transaction
from search.domain.errors import EntryNotFound, NothingToIndex
from search.domain.repository import SqliteIndex, on_note_event
from search.domain.service import Service


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(SqliteIndex(tmp_path / "search.sqlite3"))


def test_index_then_search_matches_every_word(service: Service) -> None:
    service.index_note(slug="a", title="Milk run", body="eggs and bread", tags=["home"])
    service.index_note(slug="b", title="Bread", body="sourdough")
    assert [h.slug for h in service.search_notes(q="bread").items] == ["a", "b"]
    assert [h.slug for h in service.search_notes(q="BREAD eggs").items] == ["a"]
    assert [h.slug for h in service.search_notes(q="home").items] == ["a"]
    assert service.search_notes(q="?!").items == []


def test_a_repeated_key_is_applied_once(service: Service) -> None:
    first = service.index_note(slug="a", title="One", key="saga-1:index")
    again = service.index_note(slug="a", title="Changed", key="saga-1:index")
    assert (first.applied, again.applied, again.title) == (1, 1, "One")
    assert service.index_note(slug="a", title="Two", version=2, key="saga-2:index").applied == 2


def test_an_older_version_never_replaces_a_newer_one(service: Service) -> None:
    service.index_note(slug="a", title="New", version=3)
    service.index_note(slug="a", title="Old", version=2)
    assert service.get_entry(slug="a").title == "New"


def test_refusals(service: Service) -> None:
    with pytest.raises(NothingToIndex):
        service.index_note(slug="a", title="!")
    with pytest.raises(EntryNotFound):
        service.unindex_note(slug="a")
    with pytest.raises(EntryNotFound):
        service.get_entry(slug="a")


def test_each_event_is_handled_once(service: Service) -> None:
    conn = service.index._conn()
    published = events.Event(id="e1", subject="note.published", data={"slug": "a", "title": "Tea", "version": 1})
    deleted = events.Event(id="e2", subject="note.deleted", data={"slug": "a"})
    assert events.handle(conn, "search", published, on_note_event)
    assert not events.handle(conn, "search", published, on_note_event)  # a redelivery: skipped by the inbox
    assert [h.slug for h in service.search_notes(q="tea").items] == ["a"]
    assert events.handle(conn, "search", deleted, on_note_event)
    assert service.search_notes(q="tea").items == []
    assert service.index_stats().events_handled == 2
    with transaction(conn):
        assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 2
