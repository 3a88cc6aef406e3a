"""The operation table: each entry appears as a CLI command, a REST route, an MCP tool and a
method of the remote client.

Examples run in table order against one empty data folder, in the parity tests and in the docs.
They use tiny stacks given as text, so they start no process.
"""

from __future__ import annotations

from .core.operation import Example, Operation
from .domain.errors import ExportUnsupported, NotApplied, ServerNotInStack, StackBusy, StackInvalid
from .domain.service import Service

EMPTY = "name: empty\n"
ONE = "name: one\nregistry:\n  source: manifest\n"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        Service.plan,
        "GET",
        "/stack/plan",
        read_only=True,
        errors=(StackInvalid,),
        examples=(
            Example({"stack_text": EMPTY}),
            Example({"stack_text": ONE}),
            Example({"stack_text": "name: x\nserverz: {}\n"}, error="stack_invalid"),
            Example({}, error="stack_invalid"),
        ),
    ),
    Operation(
        Service.apply,
        "POST",
        "/stack/apply",
        long_running=True,
        errors=(StackInvalid, StackBusy),
        examples=(
            Example({"stack_text": EMPTY}),
            Example({"stack_text": "name: Bad Name\n"}, error="stack_invalid"),
        ),
    ),
    Operation(
        Service.status,
        "GET",
        "/stack/status",
        read_only=True,
        errors=(StackInvalid,),
        examples=(
            Example({"stack_text": EMPTY}),
            Example({"stack_text": ONE}),
        ),
    ),
    Operation(
        Service.tokens,
        "POST",
        "/stack/tokens",
        errors=(StackInvalid,),
        examples=(Example({"stack_text": EMPTY}),),
    ),
    Operation(
        Service.logs,
        "GET",
        "/stack/logs/{server}",
        read_only=True,
        errors=(StackInvalid, ServerNotInStack),
        examples=(
            Example({"server": "registry", "stack_text": ONE}),
            Example({"server": "nobody", "stack_text": ONE}, error="server_not_in_stack"),
        ),
    ),
    Operation(
        Service.export,
        "POST",
        "/stack/export",
        errors=(StackInvalid, NotApplied, ExportUnsupported),
        examples=(
            Example({"stack_text": EMPTY}),
            Example({"stack_text": ONE}, error="not_applied"),
        ),
    ),
    Operation(
        Service.down,
        "POST",
        "/stack/down",
        errors=(StackInvalid, StackBusy),
        examples=(Example({"stack_text": EMPTY}),),
    ),
    Operation(
        Service.reset,
        "POST",
        "/stack/reset",
        destructive=True,
        errors=(StackInvalid, StackBusy),
        examples=(
            Example({"stack_text": EMPTY}),
            Example({"stack_text": EMPTY}),
        ),
    ),
)
