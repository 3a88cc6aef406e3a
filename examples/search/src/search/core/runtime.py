"""What an Advanced server runs beside its interfaces: the saga database, the outbox relay and the
event consumers. The REST app's lifespan enters ``running(settings)``; nothing else calls it.

- **Sagas**: when the domain declared one (``core/saga.py``), DBOS is launched at start-up, which
  resumes the sagas a crash interrupted, and closed at shutdown. A domain with no saga never
  imports DBOS.
- **Relay**: when the server's store has an outbox table (the domain records events), a relay
  publishes it to JetStream (``<PREFIX>_NATS_URL``) or, with no broker, to this process's
  in-process bus.
- **Consumers**: each one declared with ``events.consumes`` is run against the same broker (or
  subscribed to the in-process bus), handling each event once through its store's inbox.

The relay and the consumers share one background thread with an event loop of its own: their
SQLite writes wait on the store's write lock, which must never stall the server's loop. A domain
that records no event and declares no consumer starts no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)
_CORE = __name__.rpartition(".")[0]
#: How long shutdown waits for the relay and the consumers to finish what they hold.
STOP_SECONDS = 10.0


def default_store(settings: Settings) -> Path:
    """The server's own store (``<data dir>/<package>.sqlite3``, as ``Service.from_settings`` opens it)."""
    return Path(settings.data_dir) / f"{_CORE.split('.')[0]}.sqlite3"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    """Launch the sagas and start the event tasks the domain declared; undo both on exit."""
    import anyio.to_thread

    # Looked up, not imported: a domain that never imported saga.py (or events.py) declared nothing.
    saga = sys.modules.get(f"{_CORE}.saga")
    with_sagas = saga is not None and bool(saga.declared())
    if with_sagas:
        await anyio.to_thread.run_sync(saga.launch, settings)  # opens the database, resumes sagas
    worker = _events_worker(settings)
    try:
        if worker is not None:
            worker.start()
        yield
    finally:
        if worker is not None:
            await anyio.to_thread.run_sync(worker.stop)
        if with_sagas:
            await anyio.to_thread.run_sync(saga.shutdown)


def _events_worker(settings: Settings) -> EventsWorker | None:
    events = sys.modules.get(f"{_CORE}.events")
    if events is None:
        return None
    store = default_store(settings)
    relay = events.has_outbox(store)
    subscriptions = events.consumers()
    if not relay and not subscriptions:
        return None
    return EventsWorker(settings, store if relay else None, subscriptions)


class EventsWorker:
    """The relay and the consumers, on one thread with its own event loop."""

    def __init__(self, settings: Settings, outbox: Path | None, subscriptions: list[Any]) -> None:
        self.settings = settings
        self.outbox = outbox
        self.subscriptions = subscriptions
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_SECONDS)
        if self._thread.is_alive():
            log.warning("events: the relay or a consumer did not stop within %.0f s", STOP_SECONDS)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("events: the relay and consumers stopped on an unexpected error")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from . import events

        self._loop = asyncio.get_running_loop()
        stop = self._stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        publisher = events.publisher_for(self.settings)
        try:
            for sub in self.subscriptions:
                store = sub.store or default_store(self.settings)
                if self.settings.nats_url:
                    from .jetstream import JetStreamConsumer

                    consumer = JetStreamConsumer(
                        self.settings.nats_url, self.settings.events_stream, sub.name, sub.subjects, store, sub.handler
                    )
                    tasks.append(asyncio.create_task(_guarded(f"consumer {sub.name}", consumer.run, stop)))
                else:
                    events.local_bus.subscribe(sub.name, sub.subjects, store, sub.handler)
            if self.outbox is not None:
                relay = events.Relay(self.outbox, publisher)
                tasks.append(asyncio.create_task(_guarded("relay", relay.run, stop)))
            self._ready.set()
            await stop.wait()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            close = getattr(publisher, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


async def _guarded(what: str, run: Any, stop: asyncio.Event) -> None:
    """Run a relay or consumer loop; if it dies on something it did not expect, log and restart it."""
    while not stop.is_set():
        try:
            await run(stop)
        except Exception:
            log.exception("events: %s failed; restarting it in a second", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
