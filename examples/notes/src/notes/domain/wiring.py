"""Start-up wiring: the sagas and the event relay, started with the server.

THE ONE PLACE TO SWITCH when the template launches sagas and relays at start-up itself: until
then the REST server's lifespan calls ``Service.start`` / ``Service.close``, which call
``start`` / ``stop`` here. Everything else in the domain is independent of who starts these.

- ``start`` launches the saga runtime (DBOS resumes any publish a crash interrupted) and runs a
  relay thread that publishes the outbox to the broker (``NOTES_BROKER``, see ``broker_url``; unset: the
  in-process bus, which drops facts nobody in this process subscribed to).
- ``ensure_sagas`` launches the saga runtime in a process that is not a server (a CLI command
  run on the local store), on the first publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import events

if TYPE_CHECKING:
    from ..core.settings import Settings
    from .service import Service

# Nothing here imports the saga runtime (DBOS) at module level: a CLI command that publishes
# nothing stays light.

_lock = threading.Lock()
# The service of each store, for saga steps (domain/publishing.py): a saga resumed after a crash
# runs in a fresh process, where the server registered its service before sagas were launched.
_services: dict[str, Service] = {}
_stop = threading.Event()
_relay: threading.Thread | None = None
_launched_here = False


def register(store: str, service: Service) -> None:
    with _lock:
        _services[store] = service


def service_of(store: str) -> Service:
    with _lock:
        return _services[store]


def ensure_sagas(settings: Settings) -> None:
    """Declare the sagas and launch their runtime, once per process (later calls do nothing)."""
    global _launched_here
    from ..core import saga as sagas
    from . import publishing  # noqa: F401 - declares the publish saga, which must precede launch

    with _lock:
        if not getattr(sagas, "_launched", False):
            sagas.launch(settings)
            _launched_here = True


def start(settings: Settings, store: Path) -> None:
    global _relay
    ensure_sagas(settings)
    with _lock:
        if _relay is None:
            _stop.clear()
            _relay = threading.Thread(target=_run_relay, args=(settings, store), name="outbox-relay", daemon=True)
            _relay.start()


def stop() -> None:
    global _relay, _launched_here
    with _lock:
        relay, _relay = _relay, None
        _stop.set()
    if relay is not None:
        relay.join(timeout=10)
    with _lock:
        if _launched_here:  # a runtime someone else launched (a test, a host) is theirs to close
            from ..core import saga as sagas

            sagas.shutdown()
            _launched_here = False


def broker_url(settings: Settings) -> str | None:
    """The NATS server events go through, if any.

    ``<PREFIX>NATS_URL`` is the template's setting, but the CLI's settings check refuses any
    ``*_URL`` that is not http(s), so ``serve`` cannot start with a ``nats://`` one yet; until the
    template accepts it, ``<PREFIX>BROKER`` carries the same URL.
    """
    from ..core.settings import ENV_PREFIX

    return settings.nats_url or os.environ.get(ENV_PREFIX + "BROKER") or None


def _run_relay(settings: Settings, store: Path) -> None:
    async def relay() -> None:
        url = broker_url(settings)
        if url:
            from ..core.jetstream import JetStreamPublisher

            publisher: events.Publisher = JetStreamPublisher(url, settings.events_stream)
        else:
            publisher = events.local_bus
        done = asyncio.Event()
        task = asyncio.create_task(events.Relay(store, publisher).run(done))
        while not _stop.is_set():  # the server's thread says stop; the relay's loop hears it here
            await asyncio.sleep(0.1)
        done.set()
        await task
        close = getattr(publisher, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()

    asyncio.run(relay())
