"""Typed remote clients for manifest: the native API's methods over REST, sync and async.

Generated from the operation table by `python -m manifest.interfaces.contract`; do not edit by hand.

    from manifest.interfaces.client import AsyncClient, Client

    with Client("http://127.0.0.1:8000") as client:
        ...
    async with AsyncClient("http://127.0.0.1:8000") as client:
        ...

Errors come back as the same ``DomainError`` subclasses the native API raises.
"""

from __future__ import annotations

from typing import Literal

from ..domain.models import Deregistered, HeartbeatAck, Instance, InstanceList, InstancePage, Interfaces, Registration, WatchResult
from .client_base import UNSET, BaseAsyncClient, BaseClient, arguments

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient):
    """Blocking calls (httpx under the hood); use it as a context manager or call `close()`."""

    def register(
        self,
        *,
        name: str,
        instance_id: str,
        version: str = "0.0.0",
        interfaces: Interfaces | None = None,
        tags: list[str] | None = None,
        dependencies: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        lease_token: str | None = None,
    ) -> Registration:
        """Register an instance, or refresh it if this name and instance id exist already."""
        return self.call("register", arguments(locals()))

    def get(
        self,
        *,
        name: str,
    ) -> InstanceList:
        """Every instance registered under a service name, whatever its status."""
        return self.call("get", arguments(locals()))

    def list(
        self,
        *,
        status: Literal['up', 'unknown', 'down', 'draining'] | None = None,
        tag: str | None = None,
        interface: Literal['cli', 'rest', 'mcp', 'python'] | None = None,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> InstancePage:
        """List instances a page at a time, optionally only those with a status, a tag, an"""
        return self.call("list", arguments(locals()))

    def heartbeat(
        self,
        *,
        name: str,
        instance_id: str,
        lease_token: str | None = None,
    ) -> HeartbeatAck:
        """Tell the registry an instance is alive; an ``unknown`` instance comes back."""
        return self.call("heartbeat", arguments(locals()))

    def report_status(
        self,
        *,
        name: str,
        instance_id: str,
        status: Literal['up', 'down', 'draining'],
        reason: str | None = None,
        lease_token: str | None = None,
    ) -> Instance:
        """Report an instance's own health: ``up``, ``down`` (unhealthy) or ``draining``."""
        return self.call("report_status", arguments(locals()))

    def update(
        self,
        *,
        name: str,
        instance_id: str,
        version: str | None = None,
        interfaces: Interfaces | None = None,
        tags: list[str] | None = None,
        dependencies: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        lease_token: str | None = None,
    ) -> Instance:
        """Change some fields of a registered instance (omitted fields stay as they are)."""
        return self.call("update", arguments(locals()))

    def watch(
        self,
        *,
        index: int = 0,
        name: str | None = None,
        wait: float = 30.0,
    ) -> WatchResult:
        """Wait for changes after ``index`` (a long poll); answers at once if there are some."""
        return self.call("watch", arguments(locals()))

    def deregister(
        self,
        *,
        name: str,
        instance_id: str,
        lease_token: str | None = None,
    ) -> Deregistered:
        """Remove an instance now (a clean shutdown); its watchers see a deregistered event."""
        return self.call("deregister", arguments(locals()))


class AsyncClient(BaseAsyncClient):
    """Awaitable calls for asyncio code; `async with` it, or `await aclose()`."""

    async def register(
        self,
        *,
        name: str,
        instance_id: str,
        version: str = "0.0.0",
        interfaces: Interfaces | None = None,
        tags: list[str] | None = None,
        dependencies: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        lease_token: str | None = None,
    ) -> Registration:
        """Register an instance, or refresh it if this name and instance id exist already."""
        return await self.call("register", arguments(locals()))

    async def get(
        self,
        *,
        name: str,
    ) -> InstanceList:
        """Every instance registered under a service name, whatever its status."""
        return await self.call("get", arguments(locals()))

    async def list(
        self,
        *,
        status: Literal['up', 'unknown', 'down', 'draining'] | None = None,
        tag: str | None = None,
        interface: Literal['cli', 'rest', 'mcp', 'python'] | None = None,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> InstancePage:
        """List instances a page at a time, optionally only those with a status, a tag, an"""
        return await self.call("list", arguments(locals()))

    async def heartbeat(
        self,
        *,
        name: str,
        instance_id: str,
        lease_token: str | None = None,
    ) -> HeartbeatAck:
        """Tell the registry an instance is alive; an ``unknown`` instance comes back."""
        return await self.call("heartbeat", arguments(locals()))

    async def report_status(
        self,
        *,
        name: str,
        instance_id: str,
        status: Literal['up', 'down', 'draining'],
        reason: str | None = None,
        lease_token: str | None = None,
    ) -> Instance:
        """Report an instance's own health: ``up``, ``down`` (unhealthy) or ``draining``."""
        return await self.call("report_status", arguments(locals()))

    async def update(
        self,
        *,
        name: str,
        instance_id: str,
        version: str | None = None,
        interfaces: Interfaces | None = None,
        tags: list[str] | None = None,
        dependencies: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        lease_token: str | None = None,
    ) -> Instance:
        """Change some fields of a registered instance (omitted fields stay as they are)."""
        return await self.call("update", arguments(locals()))

    async def watch(
        self,
        *,
        index: int = 0,
        name: str | None = None,
        wait: float = 30.0,
    ) -> WatchResult:
        """Wait for changes after ``index`` (a long poll); answers at once if there are some."""
        return await self.call("watch", arguments(locals()))

    async def deregister(
        self,
        *,
        name: str,
        instance_id: str,
        lease_token: str | None = None,
    ) -> Deregistered:
        """Remove an instance now (a clean shutdown); its watchers see a deregistered event."""
        return await self.call("deregister", arguments(locals()))
