"""The operation table: each entry appears as a CLI command, a REST route, an MCP tool and a
method of the remote client. Adding an operation is adding a service method and one entry here.

Examples run in table order against one empty store, in the parity tests and in the docs, so
later examples may rely on what earlier ones created.
"""

from __future__ import annotations

from .core.operation import Example, Operation
from .domain.errors import EntryNotFound, NothingToIndex
from .domain.service import Service

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        Service.index_note,
        "POST",
        "/index",
        errors=(NothingToIndex,),
        examples=(
            Example({"slug": "groceries", "title": "Groceries", "body": "milk, eggs", "tags": ["home"], "key": "k1"}),
            Example({"slug": "groceries", "title": "Groceries", "body": "milk, eggs", "key": "k1"}),  # a repeat
            Example({"slug": "garden", "title": "Garden", "body": "plant the eggs of spring", "version": 2}),
            Example({"slug": "blank", "title": "!!"}, error="nothing_to_index"),
            Example({"slug": "Not A Slug", "title": "Bad"}, error="validation_error"),
        ),
    ),
    Operation(
        Service.get_entry,
        "GET",
        "/index/{slug}",
        read_only=True,
        inline=True,  # a SQLite read in WAL mode never waits on a writer
        errors=(EntryNotFound,),
        examples=(Example({"slug": "groceries"}), Example({"slug": "missing"}, error="entry_not_found")),
    ),
    # The first read-only operation without path parameters takes no input: the template's own
    # tests use it as the harmless call of this server.
    Operation(Service.index_stats, "GET", "/stats", read_only=True, inline=True, examples=(Example({}),)),
    Operation(
        Service.search_notes,
        "GET",
        "/search",
        read_only=True,
        inline=True,
        examples=(
            Example({"q": "eggs"}),
            Example({"q": "Milk EGGS"}),
            Example({"q": "eggs", "limit": 1}),
            Example({"q": "?"}),  # no word the index keeps: no hits
            Example({"q": ""}, error="validation_error"),
            Example({"q": "eggs", "limit": 0}, error="validation_error"),
        ),
    ),
    Operation(
        Service.unindex_note,
        "DELETE",
        "/index/{slug}",
        destructive=True,
        errors=(EntryNotFound,),
        examples=(Example({"slug": "garden"}), Example({"slug": "garden"}, error="entry_not_found")),
    ),
)
