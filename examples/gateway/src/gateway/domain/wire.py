"""One MCP request to a backend over streamable HTTP (the current, stateless revision).

Written by hand on httpcore (the connection pool under httpx) rather than with the SDK's
client: each forwarded call must carry headers of its own (the caller's request id and trace
context, this gateway's credential for that backend), and the SDK's client fixes headers per
connection and adds several milliseconds per call, which a gateway adds to every call it
forwards. httpx's own layers (request models, cookies, redirects, auth) were three quarters of
the gateway's CPU per forwarded call when profiled, and a backend call needs none of them.
The envelope keys and header names come from the SDK, so they follow its protocol revision.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpcore
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER, NAME_BEARING_METHODS
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp_types.version import LATEST_MODERN_VERSION

from ..core.about import NAME, VERSION

Progress = Callable[[dict[str, Any]], Awaitable[None]]
_ids = itertools.count(1)


class WireError(Exception):
    """The backend did not answer with a JSON-RPC result (``sent`` says whether it got the call)."""

    def __init__(self, detail: str, *, sent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.sent = sent


def envelope(method: str, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON-RPC body and routing headers of one request."""
    body_params = dict(params or {})
    meta = dict(body_params.get("_meta") or {})
    meta[PROTOCOL_VERSION_META_KEY] = LATEST_MODERN_VERSION
    meta[CLIENT_CAPABILITIES_META_KEY] = {}
    meta[CLIENT_INFO_META_KEY] = {"name": NAME, "version": VERSION}
    body_params["_meta"] = meta
    headers = {
        MCP_PROTOCOL_VERSION_HEADER: LATEST_MODERN_VERSION,
        MCP_METHOD_HEADER: method,
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    named = NAME_BEARING_METHODS.get(method)
    if named and isinstance(body_params.get(named), str) and body_params[named].isascii():
        headers[MCP_NAME_HEADER] = body_params[named]
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": body_params}, headers


async def request(
    pool: httpcore.AsyncConnectionPool,
    url: str,
    method: str,
    params: dict[str, Any] | None,
    headers: dict[str, str],
    on_progress: Progress | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Send one request and return its JSON-RPC result; progress notifications go to ``on_progress``."""
    body, routing = envelope(method, params)
    content = json.dumps(body).encode()
    sent = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in {**headers, **routing}.items()]
    sent.append((b"content-length", str(len(content)).encode()))
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        async with pool.stream("POST", url, headers=sent, content=content, extensions={"timeout": limits}) as response:
            if response.status >= 400:
                text = (await response.aread())[:300].decode(errors="replace")
                raise WireError(f"HTTP {response.status}: {text}", sent=True)
            kind = next((v for k, v in response.headers if k.lower() == b"content-type"), b"")
            if kind.startswith(b"text/event-stream"):
                message = await _from_sse(response, on_progress)
            else:
                message = json.loads(await response.aread())
    except (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout) as exc:
        raise WireError(f"cannot connect: {exc or type(exc).__name__}", sent=False) from None
    except httpcore.TimeoutException:
        raise WireError("no answer in time", sent=True) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, ValueError) as exc:
        raise WireError(f"broken answer: {exc or type(exc).__name__}", sent=True) from None
    if not isinstance(message, dict):
        raise WireError("the answer is not a JSON-RPC message", sent=True)
    if "error" in message:
        error = message["error"] if isinstance(message["error"], dict) else {}
        raise WireError(f"protocol error {error.get('code')}: {error.get('message')}", sent=True)
    result = message.get("result")
    if not isinstance(result, dict):
        raise WireError("the answer has no result", sent=True)
    return result


async def _lines(response: httpcore.Response) -> AsyncIterator[str]:
    pending = b""
    async for chunk in response.aiter_stream():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode()
    if pending:
        yield pending.decode()


async def _from_sse(response: httpcore.Response, on_progress: Progress | None) -> Any:
    """The response message of an SSE stream, relaying progress notifications met on the way."""
    data: list[str] = []
    async for line in _lines(response):
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue
        message = json.loads("\n".join(data))
        data = []
        if "id" in message and ("result" in message or "error" in message):
            return message
        if message.get("method") == "notifications/progress" and on_progress is not None:
            await on_progress(message.get("params") or {})
    raise ValueError("the stream ended without a response")
