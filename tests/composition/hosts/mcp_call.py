"""Call one tool of a running server over MCP (streamable HTTP), with progress, in the render's venv.

    python mcp_call.py <server url> <token> <tool> <json arguments>

Prints one JSON line: whether the result is an error, its structured content, and the progress
values the server reported.
"""

from __future__ import annotations

import json
import sys

import anyio
import httpx2  # the MCP SDK's HTTP client
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    url, token, tool, arguments = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    reports: list[float] = []
    messages: list[str] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        reports.append(value)
        messages.append(message or "")

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
        result = await client.call_tool(tool, arguments, progress_callback=progress)
    content = result.structured_content
    text = [getattr(block, "text", "") for block in result.content]
    print(
        json.dumps(
            {
                "is_error": result.is_error,
                "structured": content,
                "text": text,
                "progress": reports,
                "messages": messages,
            }
        )
    )


anyio.run(main)
