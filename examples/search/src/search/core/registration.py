"""Registration with the manifest registry for the lifetime of the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .manifest_client import ManifestClient
from .settings import Settings


@asynccontextmanager
async def registration(settings: Settings, operations: Any) -> AsyncIterator[ManifestClient]:
    """Register on start and deregister on clean shutdown; standalone when no registry is set.

    The client works in the background and never raises: a registry that is down only delays
    registration, it never stops the server.
    """
    client = ManifestClient.from_settings(settings, operations)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()
