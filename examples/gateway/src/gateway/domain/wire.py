"""One MCP request to a backend over streamable HTTP (the current, stateless revision).

Written by hand on a small keep-alive connection pool (``transport.py``) rather than with the
SDK's client or httpx: each forwarded call must carry headers of its own (the caller's request
id and trace context, this gateway's credential for that backend), the SDK's client fixes
headers per connection and adds several milliseconds per call, and a general-purpose client's
layers were most of the gateway's CPU per forwarded call when profiled. The envelope keys and
header names come from the SDK, so they follow its protocol revision.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER, NAME_BEARING_METHODS
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp_types.version import LATEST_MODERN_VERSION

from ..core.about import NAME, VERSION
from .transport import BrokenAnswer, ConnectFailed, Pool

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
    pool: Pool,
    url: str,
    method: str,
    params: dict[str, Any] | None,
    headers: dict[str, str],
    on_progress: Progress | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Send one request and return its JSON-RPC result; progress notifications go to ``on_progress``.

    ``timeout`` bounds the connection; the caller's deadline bounds the whole exchange.
    """
    body, routing = envelope(method, params)
    content = json.dumps(body).encode()
    fields = b"".join(_field(name, value) for name, value in {**headers, **routing}.items())
    try:
        connection, path, host = await pool.acquire(url, timeout)
    except ConnectFailed as exc:
        raise WireError(f"cannot connect: {exc}", sent=False) from None
    head = [f"POST {path} HTTP/1.1\r\nhost: ".encode(), host, b"\r\n", fields]
    head.append(b"content-length: %d\r\n\r\n" % len(content))
    finished = False
    try:
        connection.send(b"".join(head) + content)  # one write: the request leaves in one piece
        status, answer_headers = await connection.head()
        if status >= 400:
            text = (await connection.read())[:300].decode(errors="replace")
            raise WireError(f"HTTP {status}: {text}", sent=True)
        if answer_headers.get(b"content-type", b"").startswith(b"text/event-stream"):
            message = await _from_sse(connection.chunks(), on_progress)
            async for _ in connection.chunks():  # the rest of the stream, so the connection can be kept
                pass
        else:
            message = json.loads(await connection.read())
        finished = True
    except BrokenAnswer as exc:
        raise WireError(f"broken answer: {exc}", sent=True) from None
    except (ValueError, UnicodeError) as exc:
        raise WireError(f"broken answer: {exc or type(exc).__name__}", sent=True) from None
    finally:
        # An exchange cut short (cancelled by the deadline, failed) leaves the connection unusable.
        if finished:
            pool.release(url, connection)
        else:
            pool.discard(connection)
    if not isinstance(message, dict):
        raise WireError("the answer is not a JSON-RPC message", sent=True)
    if "error" in message:
        error = message["error"] if isinstance(message["error"], dict) else {}
        raise WireError(f"protocol error {error.get('code')}: {error.get('message')}", sent=True)
    result = message.get("result")
    if not isinstance(result, dict):
        raise WireError("the answer has no result", sent=True)
    return result


def _field(name: str, value: str) -> bytes:
    """One header line; a value passed on from a caller can neither break the line nor the encoding."""
    if "\r" in value or "\n" in value:
        value = " ".join(value.splitlines())
    return f"{name}: {value}\r\n".encode("latin-1", "replace")


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode()
    if pending:
        yield pending.decode()


async def _from_sse(chunks: AsyncIterator[bytes], on_progress: Progress | None) -> Any:
    """The response message of an SSE stream, relaying progress notifications met on the way."""
    data: list[str] = []
    async for line in _lines(chunks):
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
