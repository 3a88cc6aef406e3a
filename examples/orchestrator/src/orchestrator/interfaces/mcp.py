"""The MCP server, generated from the operation table with the official `mcp` SDK.

It uses the SDK's low-level `Server` so that arguments are validated by the operation's own
input model: a bad argument then gets the same `validation_error` problem as over REST and the
CLI, returned as an `is_error` tool result rather than a protocol error.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from ..core.about import DESCRIPTION, NAME, VERSION
from ..core.errors import DomainError, UnknownOperation
from ..core.observe import dispatch
from ..core.operation import Operation, find
from ..core.settings import Settings
from ..operations import OPERATIONS
from .auth import require_token

PROBLEM_TYPE = "urn:orchestrator:error"


def tool_for(op: Operation) -> types.Tool:
    return types.Tool(
        name=op.name,
        title=op.summary,
        description=op.description,
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


def error_result(error: DomainError) -> types.CallToolResult:
    problem = error.to_problem(PROBLEM_TYPE)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(problem))], structured_content=problem, is_error=True
    )


def create_mcp_server(service: Any, settings: Settings) -> Server[Any]:
    tools = [tool_for(op) for op in OPERATIONS]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            op = find(OPERATIONS, params.name)
            if op.name != params.name:
                raise UnknownOperation(f"No tool named {params.name!r}")
            request = getattr(ctx, "request", None)
            if op.mutating and request is not None:
                # Over HTTP the caller must present the token; stdio and in-process callers
                # were started by the operator and are trusted like the local CLI.
                require_token(settings, request.headers.get("authorization"))
            result = await dispatch(op, service, params.arguments or {}, "mcp")
        except DomainError as exc:
            return error_result(exc)
        data = result.model_dump(mode="json")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(data))], structured_content=data
        )

    return Server(
        NAME,
        version=VERSION,
        instructions=DESCRIPTION,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def http_session_manager(server: Server[Any]) -> StreamableHTTPSessionManager:
    """Streamable HTTP sessions; the FastAPI lifespan runs it (see rest.create_app)."""
    return StreamableHTTPSessionManager(app=server, json_response=True)


def run_stdio() -> None:
    """Serve over stdin/stdout. Logs go to stderr: stdout carries only protocol messages."""
    from mcp.server.stdio import stdio_server

    from ..core import logs
    from ..core.settings import get_settings
    from ..domain.service import Service

    settings = get_settings()
    logs.configure(settings.log_level)
    server = create_mcp_server(Service.from_settings(settings), settings)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
