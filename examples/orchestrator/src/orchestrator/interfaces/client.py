"""Typed remote clients for orchestrator: the native API's methods over REST, sync and async.

Generated from the operation table by `python -m orchestrator.interfaces.contract`; do not edit by hand.

    from orchestrator.interfaces.client import AsyncClient, Client

    with Client("http://127.0.0.1:8000") as client:
        ...
    async with AsyncClient("http://127.0.0.1:8000") as client:
        ...

Errors come back as the same ``DomainError`` subclasses the native API raises.
"""

from __future__ import annotations

from typing import Literal

from ..domain.models import ApplyReport, DownReport, ExportReport, LogLines, Plan, ResetReport, StackStatus, StackTokens
from .client_base import UNSET, BaseAsyncClient, BaseClient, arguments
from .client_handle import AsyncOperationHandle, OperationHandle

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient):
    """Blocking calls (httpx under the hood); use it as a context manager or call `close()`."""

    def plan(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> Plan:
        """Show what apply would do, server by server, without changing anything."""
        return self.call("plan", arguments(locals()))

    def apply(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> OperationHandle[ApplyReport]:
        """Bring the stack up: install what changed, start the registry, then the servers in"""
        return self.call("apply", arguments(locals()))

    def status(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> StackStatus:
        """Each server's phase, process, health and registry status."""
        return self.call("status", arguments(locals()))

    def tokens(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> StackTokens:
        """The API tokens of the stack's registry and servers. Secrets: over REST and MCP this"""
        return self.call("tokens", arguments(locals()))

    def logs(
        self,
        server: str,
        stack_file: str | None = None,
        stack_text: str | None = None,
        lines: int = 50,
    ) -> LogLines:
        """The last lines of one server's log."""
        return self.call("logs", arguments(locals()))

    def export(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
        format: Literal['systemd', 'kubernetes'] = "systemd",
    ) -> ExportReport:
        """Write the applied stack (into its state folder) as systemd units or as Kubernetes"""
        return self.call("export", arguments(locals()))

    def down(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> DownReport:
        """Stop every server of the stack in reverse dependency order (SIGTERM: each deregisters)."""
        return self.call("down", arguments(locals()))

    def reset(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> ResetReport:
        """Stop the stack and remove everything recorded as created for it: environments, data,"""
        return self.call("reset", arguments(locals()))


class AsyncClient(BaseAsyncClient):
    """Awaitable calls for asyncio code; `async with` it, or `await aclose()`."""

    async def plan(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> Plan:
        """Show what apply would do, server by server, without changing anything."""
        return await self.call("plan", arguments(locals()))

    async def apply(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> AsyncOperationHandle[ApplyReport]:
        """Bring the stack up: install what changed, start the registry, then the servers in"""
        return await self.call("apply", arguments(locals()))

    async def status(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> StackStatus:
        """Each server's phase, process, health and registry status."""
        return await self.call("status", arguments(locals()))

    async def tokens(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> StackTokens:
        """The API tokens of the stack's registry and servers. Secrets: over REST and MCP this"""
        return await self.call("tokens", arguments(locals()))

    async def logs(
        self,
        server: str,
        stack_file: str | None = None,
        stack_text: str | None = None,
        lines: int = 50,
    ) -> LogLines:
        """The last lines of one server's log."""
        return await self.call("logs", arguments(locals()))

    async def export(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
        format: Literal['systemd', 'kubernetes'] = "systemd",
    ) -> ExportReport:
        """Write the applied stack (into its state folder) as systemd units or as Kubernetes"""
        return await self.call("export", arguments(locals()))

    async def down(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> DownReport:
        """Stop every server of the stack in reverse dependency order (SIGTERM: each deregisters)."""
        return await self.call("down", arguments(locals()))

    async def reset(
        self,
        stack_file: str | None = None,
        stack_text: str | None = None,
    ) -> ResetReport:
        """Stop the stack and remove everything recorded as created for it: environments, data,"""
        return await self.call("reset", arguments(locals()))
