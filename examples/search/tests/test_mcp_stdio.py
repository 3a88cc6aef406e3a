"""One round trip with the MCP server as a stdio subprocess, as an agent host runs it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from typing import Any

import anyio
from drivers import CLI_PROGRAM
from mcp import Client, StdioServerParameters

from search import OPERATIONS
from search.core.settings import ENV_PREFIX


def test_stdio_round_trip(settings: Any) -> None:
    params = StdioServerParameters(
        command=CLI_PROGRAM, args=["mcp"], env={**os.environ, f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir)}
    )
    first = next(op for op in OPERATIONS if any(ex.error is None for ex in op.examples))
    example = next(ex for ex in first.examples if ex.error is None)

    async def session() -> tuple[list[str], Any, Any, str]:
        async with Client(params) as client:
            tools = await client.list_tools()
            ok = await client.call_tool(first.name, dict(example.input))
            bad = await client.call_tool(first.name, {"__unknown__": True})
            return [t.name for t in tools.tools], ok, bad, client.instructions or ""

    names, ok, bad, instructions = anyio.run(session)
    assert names == [op.name for op in OPERATIONS]
    # The server tells an agent how to call it: every tool and every error code it can meet.
    for op in OPERATIONS:
        assert f"- {op.name} (" in instructions and all(f"- {e.code}: " in instructions for e in op.errors)
    assert "- validation_error: " in instructions
    assert not ok.is_error and ok.structured_content
    assert bad.is_error and bad.structured_content["code"] == "validation_error"


#: Lines an agent host might send that the SDK cannot read: (line, id of the answer, JSON-RPC code).
#: The lone surrogate is valid to Python's json but not to the SDK's parser; it used to get no answer.
MALFORMED: list[tuple[str, int | None, int]] = [
    ('{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"arguments": {"s": "\\ud800"}}}', 7, -32700),
    ("{not json", None, -32700),
    ("[1, 2]", None, -32600),
    ("42", None, -32600),
    ('{"jsonrpc": "2.0", "id": 9}', 9, -32600),
]


def test_stdio_answers_malformed_lines(settings: Any) -> None:
    proc = subprocess.Popen(
        [CLI_PROGRAM, "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir)},
        text=True,
    )
    answers: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [answers.put(line) for line in proc.stdout or ()], daemon=True).start()

    def ask(line: str) -> dict[str, Any]:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        return json.loads(answers.get(timeout=60))  # a guard against a hang, not a timing check

    try:
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        assert "result" in ask(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}))
        for line, request_id, code in MALFORMED:
            answer = ask(line)
            assert answer["id"] == request_id and answer["error"]["code"] == code, (line, answer)
        listed = ask(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        assert [t["name"] for t in listed["result"]["tools"]] == [op.name for op in OPERATIONS]
    finally:
        proc.kill()
        proc.wait()
