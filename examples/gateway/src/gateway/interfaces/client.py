"""Typed remote clients for gateway: the native API's methods over REST, sync and async.

Generated from the operation table by `python -m gateway.interfaces.contract`; do not edit by hand.

    from gateway.interfaces.client import AsyncClient, Client

    with Client("http://127.0.0.1:8000") as client:
        ...
    async with AsyncClient("http://127.0.0.1:8000") as client:
        ...

Errors come back as the same ``DomainError`` subclasses the native API raises.
"""

from __future__ import annotations

from ..domain.models import EcosystemHealth, ServerHealth
from .client_base import UNSET, BaseAsyncClient, BaseClient, arguments

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient):
    """Blocking calls (httpx under the hood); use it as a context manager or call `close()`."""

    def ecosystem_health(
        self,
        name: str | None = None,
    ) -> EcosystemHealth:
        """Every registered server's status, version and tool count, as the gateway sees them."""
        return self.call("ecosystem_health", arguments(locals()))

    def server_health(
        self,
        name: str,
    ) -> ServerHealth:
        """One registered server's status, version and tool count, as the gateway sees them."""
        return self.call("server_health", arguments(locals()))

    def refresh_tools(
        self,
        name: str,
    ) -> ServerHealth:
        """Fetch a federated server's tools again now (e.g. after a redeploy that kept its version)."""
        return self.call("refresh_tools", arguments(locals()))


class AsyncClient(BaseAsyncClient):
    """Awaitable calls for asyncio code; `async with` it, or `await aclose()`."""

    async def ecosystem_health(
        self,
        name: str | None = None,
    ) -> EcosystemHealth:
        """Every registered server's status, version and tool count, as the gateway sees them."""
        return await self.call("ecosystem_health", arguments(locals()))

    async def server_health(
        self,
        name: str,
    ) -> ServerHealth:
        """One registered server's status, version and tool count, as the gateway sees them."""
        return await self.call("server_health", arguments(locals()))

    async def refresh_tools(
        self,
        name: str,
    ) -> ServerHealth:
        """Fetch a federated server's tools again now (e.g. after a redeploy that kept its version)."""
        return await self.call("refresh_tools", arguments(locals()))
