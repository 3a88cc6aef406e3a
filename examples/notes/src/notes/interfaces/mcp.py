"""The MCP server, generated from the operation table with the official `mcp` SDK.

It uses the SDK's low-level `Server` so that arguments are validated by the operation's own
input model: a bad argument then gets the same `validation_error` problem as over REST and the
CLI, returned as an `is_error` tool result rather than a protocol error.

The HTTP transport (`/mcp`) is in `mcp_http.py`; `run_stdio` below serves the same server on
stdin/stdout.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.subscriptions import ListenHandler, SubscriptionBus
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from ..core.about import DESCRIPTION, NAME, VERSION
from ..core.errors import (
    DomainError,
    InternalError,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
    UnknownOperation,
    ValidationFailed,
)
from ..core.observe import dispatch
from ..core.operation import Operation
from ..core.runner import OperationRunner, open_runner
from ..core.settings import Settings
from ..operations import OPERATIONS

PROBLEM_TYPE = "urn:notes:error"

#: What a caller should do about an error: by code for the core's own errors, else by HTTP
#: status, so an owner's new error classes get sensible advice without a line here.
LONG_RUNNING_NOTE = (
    "Long-running: pass a progressToken in the request's _meta to receive progress notifications"
    " while it runs. Cancel with notifications/cancelled over stdio; over HTTP, close the call's stream."
)


def tool_for(op: Operation) -> types.Tool:
    return types.Tool(
        name=op.name,
        title=op.summary,
        description=f"{op.description}\n\n{LONG_RUNNING_NOTE}" if op.long_running else op.description,
        input_schema=op.input_model.model_json_schema(),
        output_schema=op.output_model.model_json_schema(),
        annotations=types.ToolAnnotations(
            title=op.summary,
            read_only_hint=op.read_only,
            destructive_hint=op.destructive,
            idempotent_hint=op.read_only,
            open_world_hint=False,
        ),
    )


def _advice(error: type[DomainError]) -> str:
    return f"{error.title}: {error.hint}"  # the class's hint; a failed call's problem may carry a more specific one


def instructions(operations: tuple[Operation, ...] = OPERATIONS) -> str:
    """What the server does, each tool in one line and each error code with what to do about it.

    Built from the operation table, so it is right for any domain and never goes stale.
    """
    kinds = {True: "read-only", False: "changes state"}
    lines = [f"{NAME} {VERSION}: {DESCRIPTION}", "", "Tools:"]
    for op in operations:
        kind = "destructive" if op.destructive else kinds[op.read_only]
        kind += ", long-running: sends progress" if op.long_running else ""
        codes = ", ".join(err.code for err in op.errors)
        lines.append(f"- {op.name} ({kind}): {op.summary}" + (f" Errors: {codes}." if codes else ""))
    errors: dict[str, type[DomainError]] = {}
    common = [ValidationFailed, UnknownOperation, PayloadTooLarge, Unauthorized, StoreUnavailable, InternalError]
    for error in [*common, *(err for op in operations for err in op.errors)]:
        errors.setdefault(error.code, error)
    lines += [
        "",
        "A failed call returns a tool result with isError true and a problem object (RFC 9457) in"
        " structuredContent: `code` is stable, `detail` says what went wrong, `retryable` says"
        " whether the same call may succeed later, `hint` says what to do instead. Codes:",
    ]
    lines += [f"- {code}: {_advice(error)}" for code, error in errors.items()]
    lines += ["", "Over HTTP every request needs 'Authorization: Bearer <token>'."]
    return "\n".join(lines)


def error_result(error: DomainError) -> types.CallToolResult:
    problem = error.to_problem(PROBLEM_TYPE)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(problem))], structured_content=problem, is_error=True
    )


async def run_long(runner: OperationRunner, service: Any, op: Operation, raw: Any, ctx: Any) -> types.CallToolResult:
    """Start a long-running operation, relay its progress to the client while it runs (when the
    request carries a progressToken), and cancel it when the client cancels the request."""
    status = await runner.submit(op, service, raw, "mcp")
    try:
        while not status.done:
            before = (status.progress, status.message)
            status = await runner.watch(status.id, status.revision, 30.0)
            if (status.progress, status.message) != before and status.state != "cancelled":
                # A no-op unless the request's _meta carries a progressToken.
                await ctx.session.report_progress(status.progress, 1.0, status.message or None)
    except anyio.get_cancelled_exc_class():
        # The SDK cancels this handler when the client sends notifications/cancelled for the
        # request (stdio), closes the call's stream (HTTP) or, in process, abandons the call:
        # stop the operation too.
        with anyio.CancelScope(shield=True):
            await runner.cancel(status.id)
        raise
    if status.problem is not None:
        return error_result(DomainError.from_problem(status.problem))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(status.result))], structured_content=status.result
    )


class DynamicTools(Protocol):
    """What a service offers as ``service.dynamic_tools`` to serve tools the table cannot list.

    ``tools()`` is called on every ``tools/list``, so it must answer from memory, with a new
    list object whenever the tools change (the listing is rebuilt only then); ``call``
    returns None for a name that is not its own (the usual ``unknown_operation`` follows);
    ``changes`` is the bus on which it publishes ``ToolsListChanged`` when ``tools()`` changes.
    """

    changes: SubscriptionBus

    def tools(self) -> list[types.Tool]: ...

    def schema(self, name: str) -> dict[str, Any] | None: ...

    async def call(self, name: str, arguments: dict[str, Any], ctx: Any) -> types.CallToolResult | None: ...


def create_mcp_server(service: Any, settings: Settings, runner: OperationRunner | None = None) -> Server[Any]:
    runner = runner or open_runner(settings)
    tools = [tool_for(op) for op in OPERATIONS]
    listing = types.ListToolsResult(tools=tools)  # built once: the table does not change
    by_name = {op.name: op for op in OPERATIONS}  # one dict lookup per call, not a scan
    schemas = {tool.name: tool.input_schema for tool in tools}

    # Dynamic tools (e.g. a gateway's federated ones), beside the table's; see `DynamicTools`.
    dynamic: DynamicTools | None = getattr(service, "dynamic_tools", None)

    def dynamic_schema(name: str) -> dict[str, Any] | None:
        return schemas.get(name) or (dynamic.schema(name) if dynamic is not None else None)

    joined: list[Any] = [None, listing]  # the dynamic list last joined, and the result

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        if dynamic is None:
            return listing
        extra = dynamic.tools()
        if extra is not joined[0]:  # a new list object means a change: join once per change
            joined[:] = [extra, types.ListToolsResult(tools=[*tools, *extra])]
        return joined[1]

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        op = by_name.get(params.name)
        if op is None and dynamic is not None:
            found = await dynamic.call(params.name, params.arguments or {}, ctx)
            if found is not None:
                return found
        if op is None:
            return error_result(UnknownOperation(f"No tool named {params.name!r}; tools/list names them all"))
        try:
            if op.long_running:
                return await run_long(runner, service, op, params.arguments or {}, ctx)
            result = await dispatch(op, service, params.arguments or {}, "mcp")
        except DomainError as exc:
            return error_result(exc)
        # One serialisation: the text block is the JSON text of the structured result.
        text = result.model_dump_json()
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=json.loads(text)
        )

    # The current revision announces list changes on `subscriptions/listen` streams, which work
    # statelessly; each open stream counts against mcp_max_sessions like any other exchange.
    listen = None if dynamic is None else ListenHandler(dynamic.changes, max_subscriptions=settings.mcp_max_sessions)
    return Server(
        NAME,
        version=VERSION,
        description=DESCRIPTION,
        instructions=instructions(),
        # Without it the SDK runs the whole tools/list handler on every call of the current
        # revision, only to find one tool's schema (a third of a call's CPU time).
        get_tool_input_schema=schemas.get if dynamic is None else dynamic_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=listen,
    )


def malformed_reply(exc: Exception) -> types.JSONRPCError:
    """The JSON-RPC error for a stdio line the SDK could not read (it would drop it unanswered).

    The SDK's strict JSON parser refuses what Python's ``json`` accepts, such as a lone
    surrogate escape (``"\\ud800"``); re-reading the line leniently recovers the request id, so
    the caller's pending request gets its answer instead of waiting forever.
    """
    request_id: Any = None
    code, message = types.PARSE_ERROR, "Parse error: the line is not JSON"
    first = exc.errors(include_url=False)[0] if isinstance(exc, ValidationError) and exc.errors() else None
    if first is not None and first["type"] == "json_invalid":
        message = f"Parse error: {first['msg']}"
        try:
            raw = json.loads(first["input"]) if isinstance(first["input"], str) else None
        except ValueError:
            raw = None
        if isinstance(raw, dict):
            request_id = raw.get("id")
    elif first is not None:
        code, message = types.INVALID_REQUEST, "Invalid request: expected a JSON-RPC 2.0 object"
        raw = first.get("input")
        if isinstance(raw, dict):
            request_id = raw.get("id")
            message += " with 'jsonrpc', 'method' and 'id'"
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))


def run_stdio() -> None:
    """Serve over stdin/stdout. Logs go to stderr: stdout carries only protocol messages."""
    from mcp.server.stdio import stdio_server

    from ..core import logs, tracing
    from ..core.settings import get_settings
    from ..domain.service import Service

    settings = get_settings()
    logs.configure(settings.log_level)
    tracing.setup()  # the SDK reads each request's trace context from its `_meta`
    server = create_mcp_server(Service.from_settings(settings), settings)

    async def main() -> None:
        async with stdio_server() as (read, write):
            # Lines the SDK cannot read arrive as exceptions, which it drops; answer them here.
            send_clean, read_clean = anyio.create_memory_object_stream[SessionMessage | Exception](0)

            async def screen() -> None:
                async with send_clean:
                    async for item in read:
                        if isinstance(item, Exception):
                            await write.send(SessionMessage(malformed_reply(item)))
                        else:
                            await send_clean.send(item)

            async with anyio.create_task_group() as tg:
                tg.start_soon(screen)
                await server.run(read_clean, write, server.create_initialization_options())

    anyio.run(main)
