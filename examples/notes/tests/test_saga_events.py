"""Sagas (core/saga.py) and events (core/events.py) in this process: compensation in reverse,
an undo that finds its work gone, the outbox committing with its write, and the in-process bus
handling each event once. Template-owned. (Crash recovery and JetStream are tested with real
processes in the template's own repository.)"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notes.core import events
from notes.core import saga as sagas
from notes.core.saga import Gone, Saga, Step, StepContext
from notes.core.settings import Settings
from notes.core.store import connect, migrate, transaction

LOG: list[tuple[str, str]] = []


class Declined(Exception):
    code = "payment_declined"


def _step(name: str, fail: bool = False, gone: bool = False) -> Step:
    def run(ctx: StepContext) -> dict[str, Any]:
        LOG.append(("do", ctx.idempotency_key))
        if fail:
            raise Declined(f"{name} refused")
        return {"step": name}

    def undo(ctx: StepContext, result: dict[str, Any]) -> None:
        LOG.append(("undo", ctx.idempotency_key))
        if gone:
            raise Gone("already removed")

    return Step(name, run, undo)


TRIP = Saga("test-trip", [_step("hold", gone=True), _step("charge"), _step("confirm", fail=True)])
QUICK = Saga("test-quick", [_step("only")])


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    sagas.launch(Settings(data_dir=tmp_path_factory.mktemp("sagas")))
    yield
    sagas.shutdown()


def test_failed_third_step_compensates_the_first_two_in_reverse(launched: None) -> None:
    LOG.clear()
    status = TRIP.run({"room": "r1"}, saga_id="trip-1")
    assert status.state == "compensated"
    assert [(s.name, s.state) for s in status.steps] == [
        ("hold", "compensated"),  # its undo raised Gone: counted as undone
        ("charge", "compensated"),
        ("confirm", "failed"),
    ]
    assert status.error == "confirm: payment_declined: confirm refused"
    assert LOG == [
        ("do", "trip-1:hold"),
        ("do", "trip-1:charge"),
        ("do", "trip-1:confirm"),
        ("undo", "trip-1:charge"),
        ("undo", "trip-1:hold"),
    ]


def test_starting_the_same_saga_id_again_runs_nothing_again(launched: None) -> None:
    LOG.clear()
    first = QUICK.run({}, saga_id="quick-1")
    again = QUICK.run({}, saga_id="quick-1")
    assert (first.state, again.state) == ("completed", "completed")
    assert again.results == {"only": {"step": "only"}}
    assert LOG == [("do", "quick-1:only")]
    assert sagas.wait("quick-1", timeout_seconds=1).state == "completed"


def test_unknown_saga_id_is_reported(launched: None) -> None:
    with pytest.raises(sagas.SagaNotFound):
        sagas.status("no-such-saga")


def test_event_commits_with_its_write_and_is_handled_once(tmp_path: Path) -> None:
    producer, consumer = tmp_path / "producer.sqlite3", tmp_path / "consumer.sqlite3"
    conn = connect(producer)
    migrate(conn, ("CREATE TABLE items (n INTEGER PRIMARY KEY)", events.OUTBOX_MIGRATION))
    migrate(connect(consumer), (events.INBOX_MIGRATION, "CREATE TABLE seen (n INTEGER NOT NULL)"))
    with pytest.raises(RuntimeError):
        events.record(conn, "item.created", {"n": 0})  # outside a transaction
    with pytest.raises(sqlite3.IntegrityError), transaction(conn, write=True):
        events.record(conn, "item.created", {"n": 1})
        conn.execute("INSERT INTO items (n) VALUES (1), (1)")  # the write fails: the event goes too
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    for n in range(3):
        with transaction(conn, write=True):
            conn.execute("INSERT INTO items (n) VALUES (?)", (n,))
            events.record(conn, "item.created", {"n": n})

    def on_item(store: sqlite3.Connection, event: events.Event) -> None:
        store.execute("INSERT INTO seen (n) VALUES (?)", (event.data["n"],))

    bus = events.LocalBus()
    bus.subscribe("items", "item.*", consumer, on_item)
    relay = events.Relay(producer, bus)
    assert asyncio.run(relay.relay_once()) == 3
    assert asyncio.run(relay.relay_once()) == 0  # marked sent: not published again
    first_id = conn.execute("SELECT id FROM outbox ORDER BY seq").fetchone()[0]
    redelivered = events.Event(id=first_id, subject="item.created", data={"n": 0})
    assert events.handle(connect(consumer), "items", redelivered, on_item) is False  # the inbox has it
    assert [n for (n,) in connect(consumer).execute("SELECT n FROM seen ORDER BY n")] == [0, 1, 2]
