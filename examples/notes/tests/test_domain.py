"""Unit tests of the domain. Yours: the template creates this file once and never rewrites it."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from notes.core.errors import ValidationFailed
from notes.core.longrun import Cancellation, OperationCancelled, Progress
from notes.domain.errors import (
    NoteAlreadyExists,
    NoteNotFound,
    VersionConflict,
)
from notes.domain.repository import SqliteNoteRepository
from notes.domain.service import Service


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(SqliteNoteRepository(tmp_path / "notes.sqlite3"))


def test_create_then_get(service: Service) -> None:
    created = service.create_note(slug="a", title="A", tags=["x", "x", "b"])
    assert created.version == 1 and created.tags == ["b", "x"]
    assert service.get_note(slug="a") == created


def test_duplicate_slug_is_a_conflict(service: Service) -> None:
    service.create_note(slug="a", title="A")
    with pytest.raises(NoteAlreadyExists):
        service.create_note(slug="a", title="Again")


def test_update_bumps_version_and_guards_against_stale_writes(service: Service) -> None:
    service.create_note(slug="a", title="A")
    assert service.update_note(slug="a", body="new", expected_version=1).version == 2
    with pytest.raises(VersionConflict):
        service.update_note(slug="a", title="stale", expected_version=1)


def test_delete_then_missing(service: Service) -> None:
    service.create_note(slug="a", title="A")
    assert service.delete_note(slug="a").slug == "a"
    with pytest.raises(NoteNotFound):
        service.get_note(slug="a")


def test_list_filters_by_tag(service: Service) -> None:
    service.create_note(slug="a", title="A", tags=["home"])
    service.create_note(slug="b", title="B")
    listing = service.list_notes(tag="home")
    assert [n.slug for n in listing.items] == ["a"] and listing.next_cursor is None


def test_pages_cover_every_note_once(service: Service) -> None:
    slugs = [f"n{i:02d}" for i in range(7)]
    for slug in reversed(slugs):
        service.create_note(slug=slug, title=slug)
    seen, cursor, pages = [], None, 0
    while True:
        page = service.list_notes(limit=3, cursor=cursor)
        seen += [n.slug for n in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        service.create_note(slug=f"a{pages}", title="before the cursor: never shifts later pages")
        cursor = page.next_cursor
    assert seen == slugs and pages == 3


@pytest.mark.parametrize("cursor", ["not-a-cursor", "bjE6Tm90IEEgU2x1Zw", "=", "\u00e9"])
def test_a_cursor_not_made_here_is_a_validation_error(service: Service, cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        service.list_notes(cursor=cursor)


def _update_many(path: str, count: int) -> tuple[int, int]:
    service = Service(SqliteNoteRepository(Path(path)))
    done = conflicts = 0
    for _ in range(count):
        try:
            service.update_note(slug="shared", body="x")
            done += 1
        except VersionConflict:
            conflicts += 1
    return done, conflicts


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """Concurrent writers either succeed or get a conflict; no update is silently lost."""
    path = tmp_path / "notes.sqlite3"
    Service(SqliteNoteRepository(path)).create_note(slug="shared", title="Shared")
    # "spawn": real independent processes; a forked child would share the parent's SQLite handles.
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_update_many, [str(path)] * 2, [40, 40]))
    done = sum(r[0] for r in results)
    assert done + sum(r[1] for r in results) == 80
    final = Service(SqliteNoteRepository(path)).get_note(slug="shared")
    assert final.version == 1 + done


def test_export_reports_each_note_and_stops_when_cancelled(service: Service) -> None:
    for slug in ("a", "b", "c"):
        service.create_note(slug=slug, title=slug.upper(), body=f"about {slug}")
    reports: list[tuple[float, str]] = []
    exported = service.export_notes(progress=Progress(lambda f, m: reports.append((f, m))))
    assert exported.count == 3 and "# B\n\nabout b" in exported.markdown
    assert reports == [(1 / 3, "exported a"), (2 / 3, "exported b"), (1.0, "exported c")]

    cancel = Cancellation()
    stop_after_first = Progress(lambda f, m: cancel.request())
    with pytest.raises(OperationCancelled):
        service.export_notes(progress=stop_after_first, cancel=cancel)
