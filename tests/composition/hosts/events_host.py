"""An event producer, relay and consumer run in a rendered Advanced project's venv.

    python events_host.py produce <store> <count>          # <count> items, each with its event
    python events_host.py relay   <store> <nats url>       # outbox -> JetStream, until killed
    python events_host.py consume <store> <nats url>       # JetStream -> inbox + effects, until killed
    python events_host.py local   <work dir> <count>       # all in one process over the in-process bus
    python events_host.py atomic  <store>                  # a write that fails takes its event with it

The producer writes each item and its event in one transaction; the consumer's handler inserts
one effects row per event it handles (no unique key, so a second handling would show as a
second row). The stream is EVENTS; the consumer's ack wait is short (ACK_WAIT seconds, default
2) so a killed consumer's unacknowledged events come back quickly.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

from notes_server.core import events
from notes_server.core.events import Event
from notes_server.core.store import connect, migrate, transaction

STREAM = "EVENTS"
PRODUCER_MIGRATIONS = ("CREATE TABLE items (n INTEGER PRIMARY KEY, name TEXT NOT NULL)", events.OUTBOX_MIGRATION)
CONSUMER_MIGRATIONS = (events.INBOX_MIGRATION, "CREATE TABLE effects (event_id TEXT NOT NULL, n INTEGER NOT NULL)")


def produce(store: Path, count: int) -> None:
    conn = connect(store)
    migrate(conn, PRODUCER_MIGRATIONS)
    for n in range(count):
        with transaction(conn, write=True):
            conn.execute("INSERT INTO items (n, name) VALUES (?, ?)", (n, f"item-{n}"))
            events.record(conn, "item.created", {"n": n})


def on_item(conn: sqlite3.Connection, event: Event) -> None:
    conn.execute("INSERT INTO effects (event_id, n) VALUES (?, ?)", (event.id, event.data["n"]))


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "produce":
        produce(path, int(sys.argv[3]))
    elif mode == "relay":
        from notes_server.core.jetstream import JetStreamPublisher

        migrate(connect(path), PRODUCER_MIGRATIONS)
        asyncio.run(events.Relay(path, JetStreamPublisher(sys.argv[3], STREAM)).run())
    elif mode == "consume":
        from notes_server.core.jetstream import JetStreamConsumer

        migrate(connect(path), CONSUMER_MIGRATIONS)
        ack_wait = float(os.environ.get("ACK_WAIT", "2"))
        consumer = JetStreamConsumer(sys.argv[3], STREAM, "items", "item.*", path, on_item, ack_wait_seconds=ack_wait)
        asyncio.run(consumer.run())
    elif mode == "local":
        producer, consumer = path / "producer.sqlite3", path / "consumer.sqlite3"
        migrate(connect(consumer), CONSUMER_MIGRATIONS)
        events.local_bus.subscribe("items", "item.*", consumer, on_item)
        events.local_bus.subscribe("other", "note.>", consumer, on_item)  # matches nothing here
        produce(producer, int(sys.argv[3]))
        relay = events.Relay(producer, events.local_bus)
        while asyncio.run(relay.relay_once()):
            pass
        asyncio.run(relay.relay_once())  # nothing left: a second pass publishes nothing again
    elif mode == "atomic":
        conn = connect(path)
        migrate(conn, PRODUCER_MIGRATIONS)
        outcome = {}
        try:
            events.record(conn, "item.created", {"n": 0})
        except RuntimeError as exc:
            outcome["outside_transaction"] = str(exc)
        try:
            with transaction(conn, write=True):
                events.record(conn, "item.created", {"n": 1})
                conn.execute("INSERT INTO items (n, name) VALUES (1, NULL)")  # NOT NULL: the write fails
        except sqlite3.IntegrityError as exc:
            outcome["failed_write"] = str(exc)
        outcome["items"], outcome["outbox"] = (
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("items", "outbox")
        )
        print(json.dumps(outcome))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
