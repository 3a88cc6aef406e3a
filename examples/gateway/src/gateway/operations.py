"""The operation table: the gateway's own operations (the federated tools are not here: they
come from the registry at run time, through the MCP interface's dynamic-tools hook)."""

from __future__ import annotations

from .core.errors import Unavailable
from .core.operation import Example, Operation
from .domain.errors import ServerNotFound
from .domain.service import Service

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        Service.ecosystem_health,
        "GET",
        "/ecosystem",
        read_only=True,
        inline=True,  # memory only
        errors=(ServerNotFound,),
        examples=(
            Example({}),
            Example({"name": "notes-server"}, error="server_not_found"),
            Example({"name": "not a name"}, error="validation_error"),
        ),
    ),
    Operation(
        Service.server_health,
        "GET",
        "/servers/{name}",
        read_only=True,
        inline=True,  # memory only
        errors=(ServerNotFound,),
        examples=(Example({"name": "gateway"}), Example({"name": "notes-server"}, error="server_not_found")),
    ),
    Operation(
        Service.refresh_tools,
        "POST",
        "/ecosystem/refresh",
        errors=(ServerNotFound, Unavailable),
        examples=(
            Example({"name": "gateway"}),
            Example({"name": "notes-server"}, error="server_not_found"),
            Example({"name": "not a name"}, error="validation_error"),
        ),
    ),
)
