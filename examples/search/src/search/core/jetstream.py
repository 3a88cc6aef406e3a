"""NATS JetStream transport for ``core/events.py``: the relay's publisher and a durable consumer.

The stream (``<PREFIX>_EVENTS_STREAM``, file storage) takes every subject under ``<stream>.``;
each message carries the event as JSON and ``Nats-Msg-Id: <event id>``, so a repeat publish
inside ``DUPLICATE_WINDOW_SECONDS`` is dropped by the server. The consumer is durable (named,
its position kept by the server) with explicit acks: a consumer that was down, or died before
acknowledging, gets the rest again when it comes back, and the inbox skips what it had handled.

The relay publishes each batch as one *atomic batch* (nats-server 2.12 and later; the stream is
created with ``allow_atomic``): every message but the last goes out without waiting, the last
carries ``Nats-Batch-Commit`` and is the only one acknowledged. The server stores the whole batch
or none of it and, with ``sync_interval: always``, acknowledges once the batch is on disk: one
fsync per batch instead of one per message, several times the throughput. A batch holding an id
the server already stored (the relay died after a publish, before marking it sent) is refused
as a whole; the relay then sends that batch message by message, each repeat dropped by its id.
Servers before 2.12 get every batch message by message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from .events import Event, Handler, handle
from .store import connect

MSG_ID = "Nats-Msg-Id"
BATCH_ID, BATCH_SEQUENCE, BATCH_COMMIT = "Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"
#: The server's refusal of an atomic batch holding an id it stored already.
DUPLICATE_IN_BATCH = 10201
#: The most messages the server takes in one atomic batch (its default limit).
MAX_ATOMIC_BATCH = 1000
#: How long the server remembers an event id to drop a repeat publish (the inbox catches later ones).
DUPLICATE_WINDOW_SECONDS = 900.0
#: Faults worth waiting out (broker restarting, network blip); anything else is a bug and raises.
TRANSIENT = (nats.errors.Error, OSError, TimeoutError, asyncio.TimeoutError)

log = logging.getLogger(__name__)


async def open_stream(url: str, stream: str) -> tuple[NATS, JetStreamContext]:
    """Connect (reconnecting for ever once connected) and make sure the stream exists."""
    nc = await nats.connect(
        url,
        connect_timeout=2,
        reconnect_time_wait=0.25,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        error_cb=_connection_error,
    )
    js = nc.jetstream(timeout=5)
    atomic = supports_atomic(nc)
    try:
        try:
            info = await js.stream_info(stream)
            if atomic and not info.config.allow_atomic:  # a stream made before: allow batches from now on
                info.config.allow_atomic = True
                await js.update_stream(info.config)
        except NotFoundError:
            config = StreamConfig(
                name=stream,
                subjects=[f"{stream}.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                allow_atomic=True if atomic else None,
            )
            await js.add_stream(config)
    except BaseException:
        await nc.close()  # else the half-opened connection would keep reconnecting in the background
        raise
    return nc, js


def supports_atomic(nc: NATS) -> bool:
    """Whether the connected server takes atomic batches (2.12 and later)."""
    version = nc.connected_server_version
    return (version.major, version.minor) >= (2, 12)


class BatchRefused(nats.errors.Error):
    """The server refused an atomic batch (``code`` is its JetStream error code)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"atomic batch refused: {description} ({code})")
        self.code = code


async def _connection_error(exc: Exception) -> None:
    """One line per connection fault (nats-py's default prints a traceback for each)."""
    log.warning("nats: %s: %s", type(exc).__name__, exc)


class JetStreamPublisher:
    """``events.Publisher`` over JetStream: a batch goes out as one atomic batch (one ack, one
    fsync), or pipelined message by message where the server cannot take one."""

    def __init__(self, url: str, stream: str, timeout_seconds: float = 5.0) -> None:
        self.url, self.stream, self.timeout = url, stream, timeout_seconds
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    async def publish(self, events: Sequence[Event]) -> None:
        if self._js is None:
            self._nc, self._js = await open_stream(self.url, self.stream)
        assert self._nc is not None
        if len(events) > 1 and supports_atomic(self._nc):
            try:
                for start in range(0, len(events), MAX_ATOMIC_BATCH):
                    await self._publish_atomic(events[start : start + MAX_ATOMIC_BATCH])
                return
            except BatchRefused as exc:
                if exc.code != DUPLICATE_IN_BATCH:
                    raise
                # Part of this was stored before (a relay that died before marking it sent):
                # one by one, the server drops each repeat by its id and stores the rest.
        await self._publish_each(events)

    async def _publish_atomic(self, events: Sequence[Event]) -> None:
        assert self._nc is not None
        batch = uuid.uuid4().hex
        *head, last = events
        for n, event in enumerate(head, 1):
            headers = {MSG_ID: event.id, BATCH_ID: batch, BATCH_SEQUENCE: str(n)}
            await self._nc.publish(self._subject(event), event.model_dump_json().encode(), headers=headers)
        headers = {MSG_ID: last.id, BATCH_ID: batch, BATCH_SEQUENCE: str(len(events)), BATCH_COMMIT: "1"}
        reply = await self._nc.request(
            self._subject(last), last.model_dump_json().encode(), timeout=self.timeout, headers=headers
        )
        answer = json.loads(reply.data or b"{}")
        if "error" in answer:
            raise BatchRefused(int(answer["error"].get("err_code", 0)), str(answer["error"].get("description")))
        if answer.get("count") != len(events):
            raise BatchRefused(0, f"the server acknowledged {answer.get('count')} of {len(events)} messages")

    def _subject(self, event: Event) -> str:
        return f"{self.stream}.{event.subject}"

    async def _publish_each(self, events: Sequence[Event]) -> None:
        assert self._js is not None
        futures = [
            await self._js.publish_async(
                f"{self.stream}.{event.subject}", event.model_dump_json().encode(), headers={MSG_ID: event.id}
            )
            for event in events
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout)
        except BaseException:
            for future in futures:
                future.cancel()  # frees the client's pending-publish slots; the relay resends
            raise

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None


class JetStreamConsumer:
    """Handles the events of ``subjects`` (NATS wildcards) once each, in ``store``'s inbox."""

    def __init__(
        self,
        url: str,
        stream: str,
        consumer: str,
        subjects: str,
        store: Path,
        handler: Handler,
        *,
        batch: int = 100,
        ack_wait_seconds: float = 30.0,
    ) -> None:
        self.url, self.stream, self.consumer, self.subjects = url, stream, consumer, subjects
        self.conn: sqlite3.Connection = connect(store)
        self.handler = handler
        self.batch = batch
        self.config = ConsumerConfig(
            durable_name=consumer, ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_seconds, max_ack_pending=10 * batch
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set, waiting out broker restarts."""
        stop = stop or asyncio.Event()
        nc: NATS | None = None
        sub: JetStreamContext.PullSubscription | None = None
        while not stop.is_set():
            try:
                if nc is None or nc.is_closed:
                    nc, js = await open_stream(self.url, self.stream)
                    sub = None
                if sub is None:
                    sub = await js.pull_subscribe(
                        f"{self.stream}.{self.subjects}", durable=self.consumer, stream=self.stream, config=self.config
                    )
                await self._drain(sub)
            except TRANSIENT as exc:
                log.warning("consumer %s: %s (%s); retrying", self.consumer, type(exc).__name__, exc)
                await asyncio.sleep(0.25)
        if nc is not None:
            await nc.close()

    async def _drain(self, sub: JetStreamContext.PullSubscription) -> None:
        try:
            messages = await sub.fetch(self.batch, timeout=1)
        except TimeoutError:  # nothing new within the second
            return
        for msg in messages:
            event = Event.model_validate_json(msg.data)
            handle(self.conn, self.consumer, event, self.handler)
            await msg.ack()  # after the commit: a crash in between means a redelivery the inbox skips
