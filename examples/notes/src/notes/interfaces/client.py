"""Typed remote clients for notes: the native API's methods over REST, sync and async.

Generated from the operation table by `python -m notes.interfaces.contract`; do not edit by hand.

    from notes.interfaces.client import AsyncClient, Client

    with Client("http://127.0.0.1:8000") as client:
        ...
    async with AsyncClient("http://127.0.0.1:8000") as client:
        ...

Errors come back as the same ``DomainError`` subclasses the native API raises.
"""

from __future__ import annotations

from ..domain.models import Note, NoteList, NotesExport, Publication
from .client_base import UNSET, BaseAsyncClient, BaseClient, arguments
from .client_handle import AsyncOperationHandle, OperationHandle

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient):
    """Blocking calls (httpx under the hood); use it as a context manager or call `close()`."""

    def create_note(
        self,
        slug: str,
        title: str,
        body: str = "",
        tags: list[str] = UNSET,
    ) -> Note:
        """Create a note under a new slug."""
        return self.call("create_note", arguments(locals()))

    def get_note(
        self,
        slug: str,
    ) -> Note:
        """Fetch one note by its slug."""
        return self.call("get_note", arguments(locals()))

    def list_notes(
        self,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> NoteList:
        """List notes in slug order, a page at a time, optionally only those carrying a tag."""
        return self.call("list_notes", arguments(locals()))

    def update_note(
        self,
        slug: str,
        title: str | None = None,
        body: str | None = None,
        tags: list[str] | None = None,
        expected_version: int | None = None,
    ) -> Note:
        """Change a note's title, body or tags; pass expected_version to guard against lost updates."""
        return self.call("update_note", arguments(locals()))

    def delete_note(
        self,
        slug: str,
    ) -> Note:
        """Delete a note and return what it held."""
        return self.call("delete_note", arguments(locals()))

    def export_notes(
        self,
        tag: str | None = None,
        pause_ms: int = 0,
    ) -> OperationHandle[NotesExport]:
        """Write every note (or those carrying a tag) into one Markdown document, note by note."""
        return self.call("export_notes", arguments(locals()))

    def publish_note(
        self,
        slug: str,
        title: str,
        body: str = "",
        tags: list[str] = UNSET,
    ) -> OperationHandle[Publication]:
        """Publish a new note: store it as a draft, index it on the search server, mark it published."""
        return self.call("publish_note", arguments(locals()))


class AsyncClient(BaseAsyncClient):
    """Awaitable calls for asyncio code; `async with` it, or `await aclose()`."""

    async def create_note(
        self,
        slug: str,
        title: str,
        body: str = "",
        tags: list[str] = UNSET,
    ) -> Note:
        """Create a note under a new slug."""
        return await self.call("create_note", arguments(locals()))

    async def get_note(
        self,
        slug: str,
    ) -> Note:
        """Fetch one note by its slug."""
        return await self.call("get_note", arguments(locals()))

    async def list_notes(
        self,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> NoteList:
        """List notes in slug order, a page at a time, optionally only those carrying a tag."""
        return await self.call("list_notes", arguments(locals()))

    async def update_note(
        self,
        slug: str,
        title: str | None = None,
        body: str | None = None,
        tags: list[str] | None = None,
        expected_version: int | None = None,
    ) -> Note:
        """Change a note's title, body or tags; pass expected_version to guard against lost updates."""
        return await self.call("update_note", arguments(locals()))

    async def delete_note(
        self,
        slug: str,
    ) -> Note:
        """Delete a note and return what it held."""
        return await self.call("delete_note", arguments(locals()))

    async def export_notes(
        self,
        tag: str | None = None,
        pause_ms: int = 0,
    ) -> AsyncOperationHandle[NotesExport]:
        """Write every note (or those carrying a tag) into one Markdown document, note by note."""
        return await self.call("export_notes", arguments(locals()))

    async def publish_note(
        self,
        slug: str,
        title: str,
        body: str = "",
        tags: list[str] = UNSET,
    ) -> AsyncOperationHandle[Publication]:
        """Publish a new note: store it as a draft, index it on the search server, mark it published."""
        return await self.call("publish_note", arguments(locals()))
