"""The publish saga and the facts of notes (domain/publishing.py, repository.py), in this process.

The saga runs on the real saga runtime (embedded SQLite); search is replaced by a stand-in peer
directory, so these tests need no other server. The real two-server runs are in the template
repository's tests/composition/test_worked_example.py.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from notes.core.errors import DomainError
from notes.core.longrun import Progress
from notes.core.saga_operation import SagaFailed
from notes.core.settings import Settings
from notes.domain.models import Note
from notes.domain.service import Service


class Refused(DomainError):
    code = "nothing_to_index"
    http_status = 422


class Away(DomainError):
    code = "unavailable"
    http_status = 503
    retryable = True


class StandInSearch:
    """A peer directory whose search refuses or accepts (after being away for ``away`` calls),
    counting the calls it gets."""

    registry_url = "http://registry.invalid"

    def __init__(self, refuse: bool, away: int = 0) -> None:
        self.refuse, self.away, self.calls = refuse, away, []  # type: ignore[var-annotated]

    def call(self, peer: str, operation: str, arguments: Any = None, **options: Any) -> Any:
        self.calls.append((peer, operation, options.get("idempotency_key")))
        if operation == "index_note" and len(self.calls) <= self.away:
            raise Away("search is away")
        if operation == "index_note" and self.refuse:
            raise Refused("nothing to index")
        if operation == "unindex_note":
            raise DomainError("gone")  # not reached: a refused index is never undone
        return {"slug": arguments["slug"]}

    def close(self) -> None:
        pass


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service.from_settings(Settings(data_dir=tmp_path))


def facts(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(tmp_path / "notes.sqlite3") as conn:
        rows = conn.execute("SELECT subject, data FROM outbox ORDER BY seq").fetchall()
    return [(subject, json.loads(data)) for subject, data in rows]


def test_standalone_publish_keeps_the_note_and_states_the_fact(service: Service, tmp_path: Path) -> None:
    published = service.publish_note(slug="tea", title="Tea", body="green", tags=["b", "a", "a"])
    assert (published.state, published.indexed, published.version) == ("published", False, 1)
    assert service.get_note(slug="tea").tags == ["a", "b"]
    assert facts(tmp_path) == [
        ("note.published", {"slug": "tea", "title": "Tea", "body": "green", "tags": ["a", "b"], "version": 1})
    ]


def test_the_peer_gets_the_steps_idempotency_key(service: Service) -> None:
    search = StandInSearch(refuse=False)
    service.peers = search  # type: ignore[assignment]
    assert service.publish_note(slug="tea", title="Tea").indexed is True
    ((peer, operation, key),) = search.calls
    assert (peer, operation) == ("search", "index_note") and key.endswith(":index")


def test_while_search_is_away_the_index_step_waits_and_progress_says_so(service: Service) -> None:
    search = StandInSearch(refuse=False, away=2)
    service.peers = search  # type: ignore[assignment]
    seen: list[tuple[float, str]] = []
    published = service.publish_note(slug="tea", title="Tea", progress=Progress(lambda f, m: seen.append((f, m))))
    assert published.indexed is True
    assert len(search.calls) == 3 and len({key for _, _, key in search.calls}) == 1  # one key for every attempt
    waits = [(fraction, message) for fraction, message in seen if "waiting for search" in message]
    assert waits == [(pytest.approx(1 / 3), "index: waiting for search (unavailable)")] * 2  # each failed call
    assert seen[-1][0] == 1.0 and seen[-1][1].startswith("completed: saga publish-tea-")


def test_a_refusal_compensates_the_draft(service: Service, tmp_path: Path) -> None:
    service.peers = StandInSearch(refuse=True)  # type: ignore[assignment]
    with pytest.raises(SagaFailed, match="failed at index: nothing_to_index.*compensated") as failed:
        service.publish_note(slug="tea", title="Tea")
    outcome = failed.value.outcome
    assert outcome is not None and outcome.state == "compensated"
    assert [(step.name, step.state) for step in outcome.steps] == [
        ("draft", "compensated"),
        ("index", "failed"),
        ("publish", "pending"),
    ]
    assert service.repository.get("tea") is None
    assert facts(tmp_path) == []  # never published, so no fact


def test_deleting_a_published_note_states_it_a_plain_note_does_not(service: Service, tmp_path: Path) -> None:
    service.publish_note(slug="tea", title="Tea")
    service.create_note(slug="plain", title="Plain")
    service.delete_note(slug="plain")
    service.delete_note(slug="tea")
    assert [subject for subject, _ in facts(tmp_path)] == ["note.published", "note.deleted"]


def test_draft_steps_are_idempotent_for_their_saga(service: Service) -> None:
    note = Note(slug="tea", title="Tea", version=1)
    repo = service.repository
    assert repo.add_draft(note, "saga-1") and repo.add_draft(note, "saga-1")  # a re-run: no change
    assert not repo.add_draft(note, "saga-2")  # someone else's slug
    assert repo.mark_published("tea", "saga-1") is not None
    assert repo.mark_published("tea", "saga-1") is not None  # a re-run records no second fact
    assert not repo.drop_draft("tea", "saga-1")  # published: no longer a draft to drop
