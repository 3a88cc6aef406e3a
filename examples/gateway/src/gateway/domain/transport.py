"""The byte streams under the gateway's connection pool to its backends: one write per request.

httpcore (the pool ``wire.py`` sends on) writes a request as separate pieces: the head, the
body, and the end of the message, each through anyio's stream with a cancel scope of its own.
On loopback every ``send`` also runs the receiver's side of TCP, and a request arriving in two
segments wakes the backend's event loop and HTTP parser twice: profiled, the gateway's writes
were a quarter of its CPU per forwarded call, and a backend answering a forwarded call spent
more than on the same call made directly by a client that sends the request in one piece.

These streams collect what httpcore writes and hand it to the socket as one write when it
starts reading the answer, so a request leaves as one segment. They sit on asyncio's own
transports (no anyio layer per read or write), and they know a connection the backend closed
from the protocol's callbacks, where the default stream asks the socket with a system call
before every request (httpcore's ``is_readable`` check of an idle connection).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore


class _Inbox(asyncio.Protocol):
    """What the socket delivered, and whether it is closed."""

    def __init__(self) -> None:
        self.chunks: collections.deque[bytes] = collections.deque()
        self.closed = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed, self.error = True, exc
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class CoalescingStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, inbox: _Inbox) -> None:
        self._transport = transport
        self._inbox = inbox
        self._pending: list[bytes] = []

    def _flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            self._transport.write(data)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._inbox.closed or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        if buffer:
            self._pending.append(buffer)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()
        inbox = self._inbox
        while not inbox.chunks:
            if inbox.closed:
                if inbox.error is not None:
                    raise httpcore.ReadError(str(inbox.error) or type(inbox.error).__name__)
                return b""
            inbox.waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await inbox.waiter
                else:
                    async with asyncio.timeout(timeout):
                        await inbox.waiter
            except TimeoutError:
                raise httpcore.ReadTimeout("no data in time") from None
            finally:
                inbox.waiter = None
        data = inbox.chunks.popleft()
        if len(data) > max_bytes:
            inbox.chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        return data

    async def aclose(self) -> None:
        self._pending.clear()
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                secured = await loop.start_tls(
                    self._transport, self._inbox, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        assert secured is not None
        return CoalescingStream(secured, self._inbox)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle connection with data or an end waiting is not reusable
            return bool(self._inbox.chunks) or self._inbox.closed
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class CoalescingBackend(httpcore.AsyncNetworkBackend):
    """TCP connections for httpcore on asyncio transports (TCP_NODELAY is asyncio's default)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, inbox = await loop.create_connection(_Inbox, host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} in time") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        return CoalescingStream(transport, inbox)  # type: ignore[arg-type]

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("backends are reached over TCP")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
