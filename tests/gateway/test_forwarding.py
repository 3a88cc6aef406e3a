"""What the gateway sends a backend, seen by a backend that records it: the caller's request id
and trace context go along, the caller's token does not (the gateway's own credential does)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import anyio
import httpx
import pytest

from tests.gateway.harness import BACKEND_TOKEN, GATEWAY_TOKEN, World, client
from tests.registry.harness import AUTH, wait_for

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TOOL = {
    "name": "echo",
    "description": "Echo what it is given.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    "outputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    "annotations": {"readOnlyHint": True},
}


class Recorder(BaseHTTPRequestHandler):
    """A minimal MCP backend (JSON responses) that keeps every request it gets."""

    seen: ClassVar[list[dict[str, Any]]] = []
    extra: ClassVar[list[Any]] = []  # listed after TOOL: what a careless or hostile backend lists

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        if body["method"] == "tools/list":
            result: dict[str, Any] = {"tools": [TOOL, *self.extra]}
        else:
            text = body["params"]["arguments"].get("text", "")
            result = {
                "content": [{"type": "text", "text": json.dumps({"text": text})}],
                "structuredContent": {"text": text},
            }
        answer = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder(world: World) -> Iterator[type[Recorder]]:
    Recorder.seen = []  # this test's requests only
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/mcp"
    body = {"name": "recorder", "instance_id": "r1", "version": "1.0.0", "interfaces": {"mcp": url}}
    answer = httpx.post(world.registry.url + "/v1/instances", headers=AUTH, json=body, timeout=10)
    answer.raise_for_status()
    lease = answer.json()["lease_token"]
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(0.5):
            httpx.put(
                world.registry.url + "/v1/instances/recorder/r1/heartbeat",
                headers=AUTH,
                json={"lease_token": lease},
                timeout=5,
            )

    threading.Thread(target=heartbeat, daemon=True).start()
    yield Recorder
    stop.set()
    httpx.delete(world.registry.url + "/v1/instances/recorder/r1", headers=AUTH, params={"lease_token": lease})
    server.shutdown()


def test_the_call_carries_request_id_and_trace_context_but_never_the_callers_token(
    world: World, recorder: type[Recorder]
) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def listed() -> set[str]:
        async with client(world.mcp_url) as session:
            return {t.name for t in (await session.list_tools()).tools}

    wait_for(lambda: "recorder_echo" in anyio.run(listed), 30)

    async def go() -> Any:
        headers = {"Authorization": f"Bearer {GATEWAY_TOKEN}", "X-Request-ID": "agent-request-42"}
        transport = streamable_http_client(world.mcp_url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))
        async with Client(transport) as session:
            tool = next(t for t in (await session.list_tools()).tools if t.name == "recorder_echo")
            result = await session.call_tool("recorder_echo", {"text": "hi"}, meta={"traceparent": TRACEPARENT})
            return tool, result

    tool, result = anyio.run(go)
    assert not result.is_error and result.structured_content == {"text": "hi"}
    assert tool.description == TOOL["description"] and tool.annotations.read_only_hint is True
    assert tool.output_schema == TOOL["outputSchema"] and tool.input_schema == TOOL["inputSchema"]
    call = next(r for r in recorder.seen if r["body"]["method"] == "tools/call")
    assert call["body"]["params"]["name"] == "echo"
    assert call["headers"]["x-request-id"] == "agent-request-42"
    assert call["body"]["params"]["_meta"]["traceparent"] == TRACEPARENT
    assert call["headers"]["authorization"] == f"Bearer {BACKEND_TOKEN}"
    assert all(GATEWAY_TOKEN not in json.dumps(r) for r in recorder.seen)


@pytest.fixture
def odd_tools() -> Iterator[None]:
    Recorder.extra = [{"name": 5}, "not a tool", {"description": "no name"}, {"name": ""}]
    yield
    Recorder.extra = []


def test_a_backend_listing_malformed_tools_stops_nothing(
    world: World, odd_tools: None, recorder: type[Recorder]
) -> None:
    """Its good tool is listed, the rest skipped, and the gateway goes on following the registry:
    a server registered afterwards is listed too."""

    async def listed() -> set[str]:
        async with client(world.mcp_url) as session:
            return {t.name for t in (await session.list_tools()).tools}

    wait_for(lambda: "recorder_echo" in anyio.run(listed), 30)
    url = recorder.seen[-1]["headers"]["host"]  # the recorder serving this test
    body = {"name": "later", "instance_id": "l1", "version": "1.0.0", "interfaces": {"mcp": f"http://{url}/mcp"}}
    answer = httpx.post(world.registry.url + "/v1/instances", headers=AUTH, json=body, timeout=10)
    answer.raise_for_status()
    try:
        names = wait_for(lambda: (found := anyio.run(listed)) >= {"recorder_echo", "later_echo"} and found, 30)
        assert not {n for n in names if n.startswith(("recorder_", "later_"))} - {"recorder_echo", "later_echo"}
    finally:
        lease = answer.json()["lease_token"]
        httpx.delete(world.registry.url + "/v1/instances/later/l1", headers=AUTH, params={"lease_token": lease})
