"""Errors of the example domain. Each names a stable code, an HTTP status and a CLI exit code."""

from __future__ import annotations

from ..core.errors import DomainError


class NoteNotFound(DomainError):
    code = "note_not_found"
    title = "Note not found"
    http_status = 404
    exit_code = 3
    hint = "Call `list_notes` to see the slugs that exist, or `create_note` to make this one."


class NoteAlreadyExists(DomainError):
    code = "note_already_exists"
    title = "Note already exists"
    http_status = 409
    exit_code = 4
    hint = "Choose another slug, or change the existing note with `update_note`."


class VersionConflict(DomainError):
    code = "version_conflict"
    title = "Note was changed by someone else"
    http_status = 409
    exit_code = 4
    hint = "Read the note again with `get_note` and retry with its current `version`."
