"""NATS JetStream transport for ``core/events.py``: the relay's publisher and a durable consumer.

The stream (``<PREFIX>_EVENTS_STREAM``, file storage) takes every subject under ``<stream>.``;
each message carries the event as JSON and ``Nats-Msg-Id: <event id>``, so a repeat publish
inside ``DUPLICATE_WINDOW_SECONDS`` is dropped by the server. The consumer is durable (named,
its position kept by the server) with explicit acks: a consumer that was down, or died before
acknowledging, gets the rest again when it comes back, and the inbox skips what it had handled.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType
from nats.js.errors import NotFoundError

from .events import Event, Handler, handle
from .store import connect

MSG_ID = "Nats-Msg-Id"
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
    try:
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(
                name=stream,
                subjects=[f"{stream}.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
    except BaseException:
        await nc.close()  # else the half-opened connection would keep reconnecting in the background
        raise
    return nc, js


async def _connection_error(exc: Exception) -> None:
    """One line per connection fault (nats-py's default prints a traceback for each)."""
    log.warning("nats: %s: %s", type(exc).__name__, exc)


class JetStreamPublisher:
    """``events.Publisher`` over JetStream: a batch is sent pipelined and awaited as a whole."""

    def __init__(self, url: str, stream: str, timeout_seconds: float = 5.0) -> None:
        self.url, self.stream, self.timeout = url, stream, timeout_seconds
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    async def publish(self, events: Sequence[Event]) -> None:
        if self._js is None:
            self._nc, self._js = await open_stream(self.url, self.stream)
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
