"""MCP over streamable HTTP: the ASGI app mounted at ``/mcp`` in front of the SDK's session manager.

Streamable HTTP runs **stateless**: the current MCP revision (2026-07-28) has no sessions at
all, and for clients of the older, handshake-based revisions the SDK's stateless mode answers
each POST on its own, so nothing outlives a request and no client can fill a session table
(the SDK's stateful default keeps up to 10,000 sessions for 30 idle minutes each). Every tool
here is a self-contained call, so sessions would buy nothing. What bounds a client instead is
``settings.mcp_max_sessions``, read here as the number of MCP exchanges served at once (each
stateless exchange is a one-request session in the SDK): one more is refused at once with 503
and a JSON-RPC error. Only POST is served: a GET would open a stream for messages the server
starts, which a stateless server never sends, so such streams would only sit idle and hold
that bound; DELETE ends a session, of which there are none. Both get 405, as the transport's
specification allows. ``settings.mcp_session_idle_seconds`` is handed to the SDK for the day
a server needs sessions back (``stateless=False``); stateless, no session exists to expire.
Every request on ``/mcp`` needs the bearer token, reads included: an unauthenticated client
cannot even say ``initialize``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from ..core.errors import DomainError, MethodNotAllowed, Unauthorized, Unavailable, validation_failed
from ..core.settings import ENV_PREFIX, Settings
from .auth import require_token
from .guard import jsonrpc_error
from .mcp import PROBLEM_TYPE
from .routes import too_deep

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def http_session_manager(
    server: Server[Any], settings: Settings, *, stream: bool = False
) -> StreamableHTTPSessionManager:
    """Stateless streamable HTTP (see the module docstring); the FastAPI lifespan runs it.

    ``stream``: answer as an SSE stream instead of one JSON body, for requests that ask for
    progress notifications (a plain JSON answer has no room for them).
    """
    return StreamableHTTPSessionManager(
        app=server,
        json_response=not stream,
        stateless=True,
        session_idle_timeout=settings.mcp_session_idle_seconds,
        max_sessions=settings.mcp_max_sessions,
        max_request_body_size=settings.max_body_bytes,
    )


async def _reply(send: Send, error: DomainError, headers: dict[str, str] | None = None) -> None:
    """``error`` as a JSON-RPC error with no request id (the body was not read), under its HTTP status."""
    body = jsonrpc_error(error.to_problem(PROBLEM_TYPE))
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


class McpHttpApp:
    """The ASGI app mounted at ``/mcp``: the token check and a bound on exchanges in flight, then the SDK."""

    def __init__(
        self,
        manager: StreamableHTTPSessionManager,
        settings: Settings,
        streaming: StreamableHTTPSessionManager | None = None,
    ) -> None:
        self.manager = manager
        self.streaming = streaming
        self.settings = settings
        self.limit = settings.mcp_max_sessions
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            refused = MethodNotAllowed(f"{scope['method']} is not served at /mcp: send each message as a POST")
            await _reply(send, refused, {"Allow": "POST"})
            return
        headers = dict(scope["headers"])
        if not self.settings.api_token:
            problem = Unauthorized(f"MCP over HTTP is off until {ENV_PREFIX}API_TOKEN is set on the server")
            await _reply(send, problem, {"WWW-Authenticate": "Bearer"})
            return
        try:
            require_token(self.settings, headers.get(b"authorization", b"").decode("latin-1"))
        except Unauthorized as exc:
            await _reply(send, exc, {"WWW-Authenticate": "Bearer"})
            return
        # Bodies over max_body_bytes never get here: the guard in front of /mcp refuses them.
        if self.in_flight >= self.limit:
            busy = Unavailable(f"{self.limit} MCP requests are already being served; try again shortly")
            await _reply(send, busy, {"Retry-After": "1"})
            return
        self.in_flight += 1
        try:
            body, receive = await _buffered(receive)
            limit = self.settings.max_json_depth
            if too_deep(body, limit):  # as on REST: refused before the SDK's parser recurses into it
                msg = f"JSON nested deeper than {limit} levels"
                deep = validation_failed([{"loc": [], "msg": msg, "type": "value_error"}])
                await _reply(send, deep)
                return
            manager = self.manager
            if self.streaming is not None and b'"progressToken"' in body:
                # A request carrying a progressToken wants notifications/progress while it runs
                # (a long-running tool): only an SSE answer can carry them.
                manager = self.streaming
            await manager.handle_request(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (the guard has bounded its size), and a receive that replays it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive  # a disconnect: let the SDK see it
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay
