"""Registration with the manifest registry for the lifetime of the server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def registration(settings: Settings, operations: Any) -> AsyncIterator[None]:
    """Register on start and deregister on clean shutdown; standalone when no registry is set."""
    if not settings.registry_url:
        log.info("no registry configured (REGISTRY_URL unset): running standalone")
        yield
        return
    from .manifest_client import ManifestClient

    client = ManifestClient.from_settings(settings, operations)
    await client.start()
    try:
        yield
    finally:
        await client.stop()
