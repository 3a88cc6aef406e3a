"""Typed remote clients for search: the native API's methods over REST, sync and async.

Generated from the operation table by `python -m search.interfaces.contract`; do not edit by hand.

    from search.interfaces.client import AsyncClient, Client

    with Client("http://127.0.0.1:8000") as client:
        ...
    async with AsyncClient("http://127.0.0.1:8000") as client:
        ...

Errors come back as the same ``DomainError`` subclasses the native API raises.
"""

from __future__ import annotations

from ..domain.models import Entry, Hits, IndexStats, Removed
from .client_base import UNSET, BaseAsyncClient, BaseClient, arguments

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient):
    """Blocking calls (httpx under the hood); use it as a context manager or call `close()`."""

    def index_note(
        self,
        slug: str,
        title: str,
        body: str = "",
        tags: list[str] = UNSET,
        version: int = 1,
        key: str | None = None,
    ) -> Entry:
        """Index a note (or a newer version of it). Pass key to make a repeat of the request change nothing."""
        return self.call("index_note", arguments(locals()))

    def get_entry(
        self,
        slug: str,
    ) -> Entry:
        """Read one indexed note."""
        return self.call("get_entry", arguments(locals()))

    def index_stats(
        self,
    ) -> IndexStats:
        """How many notes are indexed, and how many requests and events the index has applied."""
        return self.call("index_stats", arguments(locals()))

    def search_notes(
        self,
        q: str,
        limit: int = 20,
    ) -> Hits:
        """The notes holding every word of q (words of two or more letters or digits), in slug order."""
        return self.call("search_notes", arguments(locals()))

    def unindex_note(
        self,
        slug: str,
    ) -> Removed:
        """Remove a note from the index."""
        return self.call("unindex_note", arguments(locals()))


class AsyncClient(BaseAsyncClient):
    """Awaitable calls for asyncio code; `async with` it, or `await aclose()`."""

    async def index_note(
        self,
        slug: str,
        title: str,
        body: str = "",
        tags: list[str] = UNSET,
        version: int = 1,
        key: str | None = None,
    ) -> Entry:
        """Index a note (or a newer version of it). Pass key to make a repeat of the request change nothing."""
        return await self.call("index_note", arguments(locals()))

    async def get_entry(
        self,
        slug: str,
    ) -> Entry:
        """Read one indexed note."""
        return await self.call("get_entry", arguments(locals()))

    async def index_stats(
        self,
    ) -> IndexStats:
        """How many notes are indexed, and how many requests and events the index has applied."""
        return await self.call("index_stats", arguments(locals()))

    async def search_notes(
        self,
        q: str,
        limit: int = 20,
    ) -> Hits:
        """The notes holding every word of q (words of two or more letters or digits), in slug order."""
        return await self.call("search_notes", arguments(locals()))

    async def unindex_note(
        self,
        slug: str,
    ) -> Removed:
        """Remove a note from the index."""
        return await self.call("unindex_note", arguments(locals()))
