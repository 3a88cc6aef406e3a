"""Errors of the search domain. Each names a stable code, an HTTP status and a CLI exit code."""

from __future__ import annotations

from ..core.errors import DomainError


class EntryNotFound(DomainError):
    code = "entry_not_found"
    title = "Not in the index"
    http_status = 404
    exit_code = 3
    hint = "Call `search_notes` to find what is indexed; a note is indexed when it is published on notes."


class NothingToIndex(DomainError):
    """The note has no word the index keeps (two or more letters or digits)."""

    code = "nothing_to_index"
    title = "Nothing to index"
    http_status = 422
    exit_code = 4
    hint = "Give the note a title or body with at least one word of two or more letters or digits."
