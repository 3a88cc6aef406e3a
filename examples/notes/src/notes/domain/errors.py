"""Errors of the example domain. Each names a stable code, an HTTP status and a CLI exit code."""

from __future__ import annotations

from ..core.errors import DomainError


class NoteNotFound(DomainError):
    code = "note_not_found"
    title = "Note not found"
    http_status = 404
    exit_code = 3


class NoteAlreadyExists(DomainError):
    code = "note_already_exists"
    title = "Note already exists"
    http_status = 409
    exit_code = 4


class VersionConflict(DomainError):
    code = "version_conflict"
    title = "Note was changed by someone else"
    http_status = 409
    exit_code = 4
