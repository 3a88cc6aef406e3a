"""The registry's operation table: each entry is a CLI command, a REST route, an MCP tool and a
method of the remote client.

Examples run in table order against one empty store (parity tests and docs), so later examples
rely on the instances earlier ones registered.
"""

from __future__ import annotations

from .core.operation import Example, Operation
from .domain.errors import InstanceNotFound, RevisionCompacted, ServiceNotFound
from .domain.service import Service

_NOTES = {
    "rest": "http://127.0.0.1:8001",
    "mcp": "http://127.0.0.1:8001/mcp",
    "cli": "notes-server",
    "python": "notes_server",
}

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
                }
            ),
            Example(
                {
                    "name": "search",
                    "instance_id": "host2-8002",
                    "version": "0.3.0",
                    "interfaces": {"rest": "http://127.0.0.1:8002"},
                    "tags": ["search"],
                }
            ),
            Example({"name": "Bad Name", "instance_id": "x"}, error="validation_error"),
            Example({"name": "big", "instance_id": "x", "metadata": {"blob": "x" * 2000}}, error="validation_error"),
        ),
    ),
    Operation(
        Service.get,
        "GET",
        "/services/{name}",
        read_only=True,
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
        read_only=True,
        examples=(
            Example({}),
            Example({"status": "up", "tag": "notes"}),
            Example({"interface": "mcp"}),
            Example({"status": "sleeping"}, error="validation_error"),
        ),
    ),
    Operation(
        Service.heartbeat,
        "PUT",
        "/instances/{name}/{instance_id}/heartbeat",
        errors=(InstanceNotFound,),
        inline=True,  # a memory update on the hottest path
        examples=(
            Example({"name": "notes-server", "instance_id": "host1-8001"}),
            Example({"name": "notes-server", "instance_id": "gone"}, error="instance_not_found"),
        ),
    ),
    Operation(
        Service.report_status,
        "PUT",
        "/instances/{name}/{instance_id}/status",
        errors=(InstanceNotFound,),
        examples=(
            Example({"name": "search", "instance_id": "host2-8002", "status": "draining", "reason": "rolling upgrade"}),
            Example({"name": "search", "instance_id": "host2-8002", "status": "unknown"}, error="validation_error"),
            Example({"name": "search", "instance_id": "nope", "status": "down"}, error="instance_not_found"),
        ),
    ),
    Operation(
        Service.update,
        "PATCH",
        "/instances/{name}/{instance_id}",
        errors=(InstanceNotFound,),
        examples=(
            Example({"name": "notes-server", "instance_id": "host1-8001", "version": "1.1.0"}),
            Example({"name": "notes-server", "instance_id": "gone", "version": "2.0.0"}, error="instance_not_found"),
        ),
    ),
    Operation(
        Service.watch,
        "GET",
        "/watch",
        read_only=True,
        errors=(RevisionCompacted,),
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
        errors=(InstanceNotFound,),
        examples=(
            Example({"name": "search", "instance_id": "host2-8002"}),
            Example({"name": "search", "instance_id": "host2-8002"}, error="instance_not_found"),
        ),
    ),
)

# Fields whose values depend on when a call ran; parity checks compare everything else.
VOLATILE_FIELDS = frozenset({"registered_at", "last_heartbeat", "status_changed_at"})
