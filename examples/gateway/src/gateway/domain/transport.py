"""Keep-alive HTTP/1.1 connections to the backends, one request at a time on each, written once.

A forwarded call is one POST to a backend's MCP endpoint and one answer (JSON, or an SSE
stream when the caller asked for progress). Profiled, a general-purpose client spent more of
the gateway's CPU than the call itself: httpcore writes the request head and body separately
(on loopback each ``send`` also runs the receiver's side of TCP, and a request in two segments
wakes the backend's loop and parser twice), polls the socket before reusing a connection, and
takes several locks and cancel scopes per request. This module does only what a forwarded
call needs, on asyncio's own transports: the request leaves in one write, the answer is parsed
by httptools (the C parser uvicorn already uses), and a connection the backend closed is known
from the protocol's callbacks rather than asked of the socket.

The caller bounds each exchange with its own deadline (the gateway's per-call timeout); a
connection whose exchange did not finish (cancelled, failed) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from urllib.parse import urlsplit

import httptools

#: uvicorn closes a connection idle for 5 s; reusing one near that age races the close.
IDLE_SECONDS = 4.0
IDLE_PER_ORIGIN = 32
#: The largest answer taken from a backend (a tool's result, or a whole progress stream): more is
#: a broken answer, so one backend cannot make the gateway hold an unbounded body in memory.
MAX_ANSWER_BYTES = 32 * 1024 * 1024


class ConnectFailed(Exception):
    """No connection could be made: the request was never sent."""


class BrokenAnswer(Exception):
    """The connection failed or the answer was malformed after the request was sent."""


@lru_cache(maxsize=1024)
def _target(url: str) -> tuple[tuple[str, str, int], str, bytes]:
    """(origin, path, Host header) of a backend URL, parsed once per URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectFailed(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), path, parts.netloc.encode("idna")


class Connection(asyncio.Protocol):
    """One connection: feeds what arrives to the response parser, wakes the reader."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.status = 0
        self.head_done = False
        self.done = False
        self.keep_alive = True
        self.body: collections.deque[bytes] = collections.deque()
        self.received = 0
        self.error: str | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = f"malformed answer: {exc}"
            self._close()
        self._wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        if not self.done and self.error is None:
            self.error = f"connection lost: {exc}" if exc else "the backend closed the connection"
        self._wake()

    # -- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()  # HTTP/1.0, or `connection: close`: not kept
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        if self.error is not None:
            return
        self.received += len(body)
        if self.received > MAX_ANSWER_BYTES:
            self.error = f"the answer is larger than {MAX_ANSWER_BYTES} bytes"
            self.body.clear()
            self._close()
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True

    # -- the exchange ----------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def _wait(self) -> None:
        if self.error is not None:
            raise BrokenAnswer(self.error)
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self.error is not None:
            raise BrokenAnswer(self.error)

    def send(self, request: bytes) -> None:
        self._reset()
        assert self.transport is not None
        self.transport.write(request)

    async def head(self) -> tuple[int, dict[bytes, bytes]]:
        while not self.head_done:
            await self._wait()
        return self.status, self.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The answer's body as it arrives (chunked encoding already undone)."""
        while True:
            while self.body:
                yield self.body.popleft()
            if self.done:
                return
            await self._wait()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class Pool:
    """Idle keep-alive connections per backend origin; a new one when none is free."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def _connect(self, origin: tuple[str, str, int], timeout: float) -> Connection:
        scheme, host, port = origin
        if scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        tls = self._tls if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    Connection, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise ConnectFailed(f"no connection to {host}:{port} within {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        return connection

    async def acquire(self, url: str, timeout: float) -> tuple[Connection, str, bytes]:
        origin, path, host = _target(url)
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection, path, host
            connection._close()
        return await self._connect(origin, timeout), path, host

    def release(self, url: str, connection: Connection) -> None:
        """Back to the idle list when its answer was read to the end and it may be kept."""
        if connection.closed or not connection.done or not connection.keep_alive or connection.body:
            connection._close()
            return
        idle = self._idle.setdefault(_target(url)[0], [])
        if len(idle) >= IDLE_PER_ORIGIN:
            connection._close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    def discard(self, connection: Connection) -> None:
        connection._close()

    def close(self) -> None:
        """Close every idle connection (those in use close when their exchange ends)."""
        for idle in self._idle.values():
            for connection in idle:
                connection._close()
        self._idle.clear()
