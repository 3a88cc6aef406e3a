"""The one ASGI layer in front of REST and the mounted MCP endpoint.

Every check a request must pass before any route sees it lives here, in a single pass over the
headers, because each extra middleware layer costs a call frame and a wrapped ``send`` on every
request. In order: the ``Host`` header (DNS rebinding), the ``Origin`` header (a web page's
cross-site request, including the "simple" ``text/plain`` POST that needs no CORS preflight),
the content type of bodies (JSON only), and the body size, counted while the body streams in so
a chunked upload is refused before more than the limit is held in memory. It also gives each
request an id, which log lines and problem documents carry, and makes a caller's W3C trace
context (``traceparent``, ``tracestate``) the parent of the operation it calls.

Hand-written rather than Starlette's ``TrustedHostMiddleware`` + ``CORSMiddleware``: those are two
layers, neither refuses a cross-origin request (CORS only hides the answer from the page; the
write has happened), and neither answers problem+json with a stable code.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ..core import logs, tracing
from ..core.errors import (
    DomainError,
    HostNotAllowed,
    InternalError,
    OriginNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ..core.settings import ENV_PREFIX

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON = "application/json"


def encode_problem(
    error: DomainError, problem_type: str, request_id: str | None
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The problem+json body and headers of an error: ``WWW-Authenticate`` on a 401 and
    ``Retry-After`` on a 503 (RFC 9110), so clients know how to authenticate and when to retry."""
    problem = error.to_problem(problem_type)
    if request_id is not None:
        problem["request_id"] = request_id
    headers = [(b"content-type", b"application/problem+json")]
    if error.http_status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="api"'))
    elif error.http_status == 503:
        headers.append((b"retry-after", b"1"))
    return json.dumps(problem).encode(), headers


def jsonrpc_error(problem: dict[str, Any]) -> bytes:
    """A JSON-RPC error answering a request whose id was never read, the problem in ``data``:
    what an MCP client expects from ``/mcp``, so its SDK shows the code instead of a bare status."""
    error = {"code": -32001, "message": problem.get("detail", ""), "data": problem}
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_hosts(bind_host: str, public_url: str | None) -> list[str]:
    """Loopback names when bound to loopback; otherwise the bound host and the public URL's host
    (plus the loopback names when bound to every interface, which includes loopback)."""
    if is_loopback(bind_host):
        return list(LOOPBACK_NAMES)
    hosts = [f"[{bind_host}]" if ":" in bind_host else bind_host]
    if bind_host in ("0.0.0.0", "::", ""):
        hosts += LOOPBACK_NAMES
    if public_url:
        public = urlsplit(public_url).hostname
        if public:
            hosts.append(f"[{public}]" if ":" in public else public)
    return hosts


def public_origins(allowed: list[str], public_url: str | None) -> list[str]:
    """The allowed origins plus the public URL's own (pages served behind a TLS proxy)."""
    if not public_url:
        return allowed
    parts = urlsplit(public_url)
    return [*allowed, f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else allowed


def _split_host(value: str) -> tuple[str, str | None]:
    """``name[:port]`` (IPv6 in brackets) -> (lower-case name, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[: end + 1], value[end + 1 :]
        return name, rest[1:] if rest.startswith(":") else None
    name, sep, port = value.partition(":")
    return name, port if sep else None


class Guard:
    """Host, Origin, content type, body size and request id, for every HTTP request."""

    def __init__(
        self,
        app: Any,
        *,
        allowed_hosts: Iterable[str],
        allowed_origins: Iterable[str],
        max_body_bytes: int,
        echo_request_id: bool,
        problem_type: str,
        routes: Any = None,
        jsonrpc_path: str | None = None,
    ) -> None:
        self.app = app
        self.jsonrpc_path = jsonrpc_path  # refusals there are JSON-RPC errors (the MCP endpoint)
        self.routes = routes  # a routes.RouteTable: operation routes called without the framework
        self.any_host = False
        self.host_names: set[str] = set()  # any port
        self.host_ports: set[str] = set()  # exactly name:port
        for entry in allowed_hosts:
            if entry.strip() == "*":
                self.any_host = True
                continue
            name, port = _split_host(entry)
            (self.host_ports.add(f"{name}:{port}") if port else self.host_names.add(name))
        origins = {o.strip().rstrip("/").lower() for o in allowed_origins}
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        self.max_body = max_body_bytes
        self.echo = echo_request_id
        self.problem_type = problem_type
        self.log = logging.getLogger(__name__)

    def _host_ok(self, host: str) -> bool:
        if self.any_host:
            return True
        name, port = _split_host(host)
        return name in self.host_names or (port is not None and f"{name}:{port}" in self.host_ports)

    def _origin_ok(self, origin: str, host: str, scheme: str) -> bool:
        origin = origin.rstrip("/").lower()
        if self.any_origin or origin in self.origins:
            return True
        # Same origin: the page was served by this server under the Host the request names.
        return origin == f"{scheme}://{host.lower()}"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = content_type = length = given_id = parent = state = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
            elif key == b"x-request-id":
                given_id = value.decode("latin-1")
            elif key == b"traceparent":
                parent = value.decode("latin-1")
            elif key == b"tracestate":
                state = value.decode("latin-1")
        rid = given_id if given_id and len(given_id) <= 128 and given_id.isprintable() else os.urandom(16).hex()
        token = logs.request_id.set(rid)
        extra = [(b"x-request-id", rid.encode())] if self.echo else []
        try:
            error = self._refusal(scope, host, origin, content_type, length, chunked)
            if error is not None:
                await self._send_problem(send, error, rid, extra, scope)
                return
            await self._serve(scope, receive, send, rid, extra, parent, state)
        finally:
            logs.request_id.reset(token)

    def _refusal(
        self,
        scope: Any,
        host: str | None,
        origin: str | None,
        content_type: str | None,
        length: bytes | None,
        chunked: bool,
    ) -> DomainError | None:
        if host is None or not self._host_ok(host):
            return HostNotAllowed(f"Host {host!r} is not served here; set {ENV_PREFIX}ALLOWED_HOSTS to serve it")
        if origin is not None and not self._origin_ok(origin, host, scope.get("scheme", "http")):
            return OriginNotAllowed(
                f"Origin {origin!r} may not call this server; set {ENV_PREFIX}ALLOWED_ORIGINS to allow it"
            )
        if scope["method"] in _BODY_METHODS:
            has_body = chunked or (length is not None and length != b"0")
            media = (content_type or "").partition(";")[0].strip().lower()
            if (has_body or content_type is not None) and media != _JSON:
                return UnsupportedMediaType(f"Send the body as {_JSON}, not {media or 'an untyped body'}")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                return PayloadTooLarge(f"Request body is larger than {self.max_body} bytes")
        return None

    async def _serve(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        rid: str,
        extra: list[tuple[bytes, bytes]],
        traceparent: str | None,
        tracestate: str | None,
    ) -> None:
        started = False
        received = 0
        max_body = self.max_body

        async def counted_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise PayloadTooLarge(f"Request body is larger than {max_body} bytes")
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        app = self.app
        parent = None
        if self.routes is not None:
            path = scope["path"]
            root = scope.get("root_path", "")
            found = self.routes.find(scope["method"], path[len(root) :] if root and path.startswith(root) else path)
            if found is not None:
                app, scope["path_params"] = found
                if traceparent is not None and getattr(app, "joins_callers_trace", False):
                    # the operation's span becomes a child of the caller's (MCP reads ``_meta``)
                    parent = tracing.attach_parent(traceparent, tracestate)
        try:
            await app(scope, counted_receive if scope["method"] in _BODY_METHODS else receive, tracked_send)
        except PayloadTooLarge as exc:
            if not started:
                await self._send_problem(send, exc, rid, extra, scope)
        except Exception:
            # Nothing the routes did not turn into a problem may leave as a bare 500 or a dropped
            # connection: log it once, here, with the request id, and answer a sanitized problem
            # carrying the same id (unless FastAPI's last-resort handler already answered one).
            self.log.exception("unhandled error")
            if not started:
                error = InternalError("The server hit an unexpected error; see its logs.")
                await self._send_problem(send, error, rid, extra)
        finally:
            tracing.detach(parent)

    async def _send_problem(
        self, send: Any, error: DomainError, rid: str, extra: list[tuple[bytes, bytes]], scope: Any = None
    ) -> None:
        body, headers = encode_problem(error, self.problem_type, rid)
        if scope is not None and self.jsonrpc_path is not None and scope["path"].startswith(self.jsonrpc_path):
            body = jsonrpc_error(json.loads(body))
            headers = [(b"content-type", b"application/json"), *headers[1:]]
        headers = [*headers, (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
