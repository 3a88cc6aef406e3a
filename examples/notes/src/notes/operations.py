"""The operation table: each entry appears as a CLI command, a REST route, an MCP tool and a
method of the remote client. Adding an operation is adding a service method and one entry here.

Examples run in table order against one empty store, in the parity tests and in the docs, so
later examples may rely on what earlier ones created.
"""

from __future__ import annotations

from .core.operation import Example, Operation
from .core.saga_operation import SagaFailed
from .domain.errors import NoteAlreadyExists, NoteNotFound, VersionConflict
from .domain.service import Service, cursor_after

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        Service.create_note,
        "POST",
        "/notes",
        status_code=201,
        errors=(NoteAlreadyExists,),
        examples=(
            Example({"slug": "groceries", "title": "Groceries", "body": "milk, eggs", "tags": ["home"]}),
            Example({"slug": "garden", "title": "Garden", "tags": ["home", "outside"]}),
            Example({"slug": "groceries", "title": "Twice"}, error="note_already_exists"),
            Example({"slug": "Not A Slug", "title": "Bad"}, error="validation_error"),
        ),
    ),
    Operation(
        Service.get_note,
        "GET",
        "/notes/{slug}",
        read_only=True,
        inline=True,  # a SQLite read in WAL mode never waits on a writer: no worker thread needed
        errors=(NoteNotFound,),
        examples=(
            Example({"slug": "groceries"}),
            Example({"slug": "missing"}, error="note_not_found"),
        ),
    ),
    Operation(
        Service.list_notes,
        "GET",
        "/notes",
        read_only=True,
        inline=True,
        examples=(
            Example({}),
            Example({"tag": "outside"}),
            Example({"limit": 1}),  # the first page of two: next_cursor is set
            Example({"limit": 1, "cursor": cursor_after("garden")}),  # the last page: next_cursor is null
            Example({"limit": 0}, error="validation_error"),
            Example({"limit": 201}, error="validation_error"),
            Example({"cursor": "not-a-cursor"}, error="validation_error"),
        ),
    ),
    Operation(
        Service.update_note,
        "PATCH",
        "/notes/{slug}",
        errors=(NoteNotFound, VersionConflict),
        examples=(
            Example({"slug": "groceries", "body": "milk, eggs, bread", "expected_version": 1}),
            Example({"slug": "groceries", "title": "Stale", "expected_version": 1}, error="version_conflict"),
            Example({"slug": "missing", "title": "Nobody"}, error="note_not_found"),
        ),
    ),
    Operation(
        Service.delete_note,
        "DELETE",
        "/notes/{slug}",
        destructive=True,
        errors=(NoteNotFound,),
        examples=(
            Example({"slug": "garden"}),
            Example({"slug": "garden"}, error="note_not_found"),
        ),
    ),
    Operation(
        Service.export_notes,
        "POST",
        "/notes:export",
        long_running=True,
        examples=(
            Example({}),
            Example({"tag": "home", "pause_ms": 1}),
            Example({"pause_ms": -1}, error="validation_error"),
        ),
    ),
    Operation(
        Service.publish_note,
        "POST",
        "/notes:publish",
        long_running=True,
        errors=(NoteAlreadyExists, SagaFailed),
        examples=(
            # Standalone (no registry configured) the index step has no search to call: indexed is false.
            Example({"slug": "weekly", "title": "Weekly review", "body": "what went well", "tags": ["work"]}),
            Example({"slug": "weekly", "title": "Twice"}, error="note_already_exists"),
            Example({"slug": "Not A Slug", "title": "Bad"}, error="validation_error"),
        ),
    ),
)
