"""Start-up wiring: the consumer of the notes server's events, started with the server.

THE ONE PLACE TO SWITCH when the template starts consumers at start-up itself: until then the
REST server's lifespan calls ``Service.start`` / ``Service.close``, which call ``start`` /
``stop`` here.

With a broker (``SEARCH_BROKER``, see ``broker_url``) the consumer is durable: named ``search`` on the stream
(``SEARCH_EVENTS_STREAM``), so a search server that was down reads on from the last event it
acknowledged, and the inbox skips any event it had already handled. Without one it subscribes to
the in-process bus (useful only when notes runs in the same process, as in tests).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import events
from .repository import on_note_event

if TYPE_CHECKING:
    from ..core.settings import Settings

CONSUMER = "search"
SUBJECTS = "note.*"
#: How soon an event taken but not acknowledged (the server died meanwhile) is delivered again.
ACK_WAIT_SECONDS = 5.0

_lock = threading.Lock()
_stop = threading.Event()
_thread: threading.Thread | None = None


def start(settings: Settings, store: Path) -> None:
    global _thread
    with _lock:
        if _thread is not None:
            return
        url = broker_url(settings)
        if not url:
            events.local_bus.subscribe(CONSUMER, SUBJECTS, store, on_note_event)
            return
        _stop.clear()
        _thread = threading.Thread(target=_consume, args=(settings, url, store), name="events-consumer", daemon=True)
        _thread.start()


def stop() -> None:
    global _thread
    with _lock:
        thread, _thread = _thread, None
        _stop.set()
    if thread is not None:
        thread.join(timeout=10)


def broker_url(settings: Settings) -> str | None:
    """The NATS server events go through, if any.

    ``<PREFIX>NATS_URL`` is the template's setting, but the CLI's settings check refuses any
    ``*_URL`` that is not http(s), so ``serve`` cannot start with a ``nats://`` one yet; until the
    template accepts it, ``<PREFIX>BROKER`` carries the same URL.
    """
    from ..core.settings import ENV_PREFIX

    return settings.nats_url or os.environ.get(ENV_PREFIX + "BROKER") or None


def _consume(settings: Settings, url: str, store: Path) -> None:
    from ..core.jetstream import JetStreamConsumer

    async def consume() -> None:
        consumer = JetStreamConsumer(
            url,
            settings.events_stream,
            CONSUMER,
            SUBJECTS,
            store,
            on_note_event,
            ack_wait_seconds=ACK_WAIT_SECONDS,
        )
        done = asyncio.Event()
        task = asyncio.create_task(consumer.run(done))
        while not _stop.is_set():  # the server's thread says stop; the consumer's loop hears it here
            await asyncio.sleep(0.1)
        done.set()
        await task

    asyncio.run(consume())
