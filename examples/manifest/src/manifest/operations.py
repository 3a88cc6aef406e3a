"""The registry's operation table: each entry is a CLI command, a REST route, an MCP tool and a
method of the remote client.

Examples run in table order against one empty store (parity tests and docs), so later examples
rely on the instances earlier ones registered.
"""

from __future__ import annotations

from .core.errors import StoreUnavailable
from .core.operation import Example, Operation
from .domain.errors import (
    InstanceNotFound,
    LeaseMismatch,
    RevisionCompacted,
    RevisionConflict,
    ServiceNotFound,
    TooManyInstances,
    TooManyWatches,
)
from .domain.service import Service

_NOTES = {
    "rest": "http://127.0.0.1:8001",
    "mcp": "http://127.0.0.1:8001/mcp",
    "cli": "notes-server",
    "python": "notes_server",
}
# Lease tokens the examples bring on registration (a real client keeps the one register answers).
_NOTES_LEASE = "lease-notes-host1-8001"
_SEARCH_LEASE = "lease-search-host2-8002"
_WRITES = (StoreUnavailable, RevisionConflict)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        Service.register,
        "POST",
        "/instances",
        examples=(
            Example(
                {
                    "name": "notes-server",
                    "instance_id": "host1-8001",
                    "version": "1.0.0",
                    "interfaces": _NOTES,
                    "tags": ["notes", "core"],
                    "dependencies": ["manifest"],
                    "metadata": {"owner": "docs-team"},
                    "lease_token": _NOTES_LEASE,
                }
            ),
            Example(
                {
                    "name": "notes-server",
                    "instance_id": "host1-8001",
                    "version": "1.0.0",
                    "interfaces": _NOTES,
                    "tags": ["notes", "core"],
                    "dependencies": ["manifest"],
                    "metadata": {"owner": "docs-team"},
                    "lease_token": _NOTES_LEASE,
                }
            ),
            Example(
                {
                    "name": "search",
                    "instance_id": "host2-8002",
                    "version": "0.3.0",
                    "interfaces": {"rest": "http://127.0.0.1:8002"},
                    "tags": ["search"],
                    "lease_token": _SEARCH_LEASE,
                }
            ),
            # the same instance claimed without its lease: refused, the record is untouched
            Example({"name": "search", "instance_id": "host2-8002", "version": "9.9.9"}, error="lease_mismatch"),
            Example({"name": "Bad Name", "instance_id": "x"}, error="validation_error"),
            Example({"name": "big", "instance_id": "x", "metadata": {"blob": "x" * 2000}}, error="validation_error"),
            Example(
                {"name": "evil", "instance_id": "x", "interfaces": {"rest": "javascript:alert(1)"}},
                error="validation_error",
            ),
            Example(
                {"name": "evil", "instance_id": "x", "interfaces": {"rest": "http://169.254.169.254/latest"}},
                error="validation_error",
            ),
            Example({"name": "evil", "instance_id": "x", "tags": ["a\u202eb"]}, error="validation_error"),
        ),
        errors=(LeaseMismatch, TooManyInstances, *_WRITES),
    ),
    Operation(
        Service.get,
        "GET",
        "/services/{name}",
        read_only=True,
        inline=True,  # memory only: the hottest read
        errors=(ServiceNotFound,),
        examples=(
            Example({"name": "notes-server"}),
            Example({"name": "nobody"}, error="service_not_found"),
        ),
    ),
    Operation(
        Service.list,
        "GET",
        "/instances",
        read_only=True,  # async: pages take turns on the loop (domain/turns.py)
        examples=(
            Example({}),
            Example({"limit": 1}),
            Example({"limit": 1, "cursor": "WyJub3Rlcy1zZXJ2ZXIiLCJob3N0MS04MDAxIl0="}),
            Example({"limit": 5000}, error="validation_error"),
            Example({"cursor": "bm90LWEtY3Vyc29y"}, error="validation_error"),
            Example({"status": "up", "tag": "notes"}),
            Example({"interface": "mcp"}),
            Example({"status": "sleeping"}, error="validation_error"),
        ),
    ),
    Operation(
        Service.heartbeat,
        "PUT",
        "/instances/{name}/{instance_id}/heartbeat",
        errors=(InstanceNotFound, LeaseMismatch),
        inline=True,  # a memory update on the hottest path
        examples=(
            Example({"name": "notes-server", "instance_id": "host1-8001", "lease_token": _NOTES_LEASE}),
            Example({"name": "notes-server", "instance_id": "host1-8001"}, error="lease_mismatch"),
            Example(
                {"name": "notes-server", "instance_id": "host1-8001", "lease_token": _SEARCH_LEASE},
                error="lease_mismatch",
            ),
            Example(
                {"name": "notes-server", "instance_id": "gone", "lease_token": _NOTES_LEASE}, error="instance_not_found"
            ),
        ),
    ),
    Operation(
        Service.report_status,
        "PUT",
        "/instances/{name}/{instance_id}/status",
        errors=(InstanceNotFound, LeaseMismatch, *_WRITES),
        examples=(
            Example(
                {
                    "name": "search",
                    "instance_id": "host2-8002",
                    "status": "draining",
                    "reason": "rolling upgrade",
                    "lease_token": _SEARCH_LEASE,
                }
            ),
            Example({"name": "search", "instance_id": "host2-8002", "status": "unknown"}, error="validation_error"),
            Example(
                {"name": "search", "instance_id": "nope", "status": "down", "lease_token": _SEARCH_LEASE},
                error="instance_not_found",
            ),
        ),
    ),
    Operation(
        Service.update,
        "PATCH",
        "/instances/{name}/{instance_id}",
        errors=(InstanceNotFound, LeaseMismatch, *_WRITES),
        examples=(
            Example(
                {"name": "notes-server", "instance_id": "host1-8001", "version": "1.1.0", "lease_token": _NOTES_LEASE}
            ),
            Example(
                {"name": "notes-server", "instance_id": "host1-8001", "lease_token": _NOTES_LEASE},
                error="validation_error",
            ),
            Example(
                {"name": "notes-server", "instance_id": "host1-8001", "version": "1.2.0\u200b"},
                error="validation_error",
            ),
            Example(
                {"name": "notes-server", "instance_id": "gone", "version": "2.0.0", "lease_token": _NOTES_LEASE},
                error="instance_not_found",
            ),
        ),
    ),
    Operation(
        Service.watch,
        "GET",
        "/watch",
        read_only=True,
        errors=(RevisionCompacted, TooManyWatches),
        examples=(
            # Watch from the revision the previous examples reached (what a list would return):
            # every process sees the same answer, whichever interface asks.
            Example({"index": 4, "wait": 0}),
            Example({"index": 999999, "wait": 0}, error="revision_compacted"),
            Example({"index": -1}, error="validation_error"),
        ),
    ),
    Operation(
        Service.deregister,
        "DELETE",
        "/instances/{name}/{instance_id}",
        destructive=True,
        errors=(InstanceNotFound, LeaseMismatch, *_WRITES),
        examples=(
            Example(
                {"name": "search", "instance_id": "host2-8002", "lease_token": _NOTES_LEASE}, error="lease_mismatch"
            ),
            Example({"name": "search", "instance_id": "host2-8002", "lease_token": _SEARCH_LEASE}),
            Example(
                {"name": "search", "instance_id": "host2-8002", "lease_token": _SEARCH_LEASE},
                error="instance_not_found",
            ),
        ),
    ),
)

# Fields whose values depend on when a call ran; parity checks compare everything else.
VOLATILE_FIELDS = frozenset({"registered_at", "last_heartbeat", "status_changed_at"})
