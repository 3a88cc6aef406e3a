"""One round trip with the MCP server as a stdio subprocess, as an agent host runs it."""

from __future__ import annotations

import os
from typing import Any

import anyio
from drivers import CLI_PROGRAM
from mcp import Client, StdioServerParameters

from orchestrator import OPERATIONS
from orchestrator.core.settings import ENV_PREFIX


def test_stdio_round_trip(settings: Any) -> None:
    params = StdioServerParameters(
        command=CLI_PROGRAM, args=["mcp"], env={**os.environ, f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir)}
    )
    first = next(op for op in OPERATIONS if any(ex.error is None for ex in op.examples))
    example = next(ex for ex in first.examples if ex.error is None)

    async def session() -> tuple[list[str], Any, Any]:
        async with Client(params) as client:
            tools = await client.list_tools()
            ok = await client.call_tool(first.name, dict(example.input))
            bad = await client.call_tool(first.name, {"__unknown__": True})
            return [t.name for t in tools.tools], ok, bad

    names, ok, bad = anyio.run(session)
    assert names == [op.name for op in OPERATIONS]
    assert not ok.is_error and ok.structured_content
    assert bad.is_error and bad.structured_content["code"] == "validation_error"
