"""The gateway's domain without a network: names, filters, credentials, breakers, health."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.core.errors import DomainError
from gateway.domain.backends import Breaker
from gateway.domain.config import GatewaySettings
from gateway.domain.federation import Federation
from gateway.domain.naming import NAME_PATTERN, public_name
from gateway.domain.service import Service
from gateway.operations import OPERATIONS


@pytest.mark.parametrize(
    ("server", "tool", "expected"),
    [
        ("notes", "get_note", "notes_get_note"),
        ("notes-server", "list_notes", "notes-server_list_notes"),
        ("a-b", "c_d", "a-b_c_d"),
    ],
)
def test_plain_names_are_server_underscore_tool(server: str, tool: str, expected: str) -> None:
    assert public_name(server, tool) == expected


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a_b", "c"), ("a", "b_c")),  # `_` in a server name would make the split ambiguous
        (("my.server", "x"), ("my-server", "x")),  # characters replaced by `-`
        (("s", "do it"), ("s", "do-it")),
        (("a.b", "c"), ("a-b", "c_" + public_name("a.b", "c")[-8:])),  # a plain name shaped like a hashed one
    ],
)
def test_pairs_that_would_read_alike_get_distinct_valid_names(first: tuple[str, str], second: tuple[str, str]) -> None:
    a, b = public_name(*first), public_name(*second)
    assert a != b and NAME_PATTERN.match(a) and NAME_PATTERN.match(b)


def test_long_names_are_shortened_deterministically_and_stay_distinct() -> None:
    a = public_name("s" * 60, "tool_one")
    b = public_name("s" * 60, "tool_two")
    assert a != b and len(a) == len(b) == 64
    assert NAME_PATTERN.match(a) and NAME_PATTERN.match(b)
    assert public_name("s" * 60, "tool_one") == a  # the same in any process, at any time


def test_filters_and_credentials_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_EXPOSE_SERVERS", "alpha, beta")
    monkeypatch.setenv("GATEWAY_EXPOSE_TAGS", "public")
    monkeypatch.setenv("GATEWAY_BACKEND_TOKENS", "alpha=tok-a,beta=tok-b")
    monkeypatch.setenv("GATEWAY_BACKEND_TOKEN", "shared")
    settings = GatewaySettings()
    assert settings.exposes("alpha", ["public"]) and not settings.exposes("alpha", ["internal"])
    assert not settings.exposes("gamma", ["public"])
    assert settings.token_for("alpha") == "tok-a" and settings.token_for("gamma") == "shared"


def test_a_breaker_opens_after_failures_in_a_row_and_closes_after_its_reset() -> None:
    breaker = Breaker()
    breaker.failed(0.0, limit=2, reset=5.0)
    assert breaker.allows(0.1)
    breaker.failed(0.2, limit=2, reset=5.0)
    assert not breaker.allows(1.0) and breaker.allows(5.3)
    breaker.succeeded()
    assert breaker.allows(0.0) and breaker.failures == 0


def _record(name: str, instance: str, status: str = "up", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "instance_id": instance,
        "status": status,
        "version": "1.0.0",
        "interfaces": {"mcp": f"http://127.0.0.1:9/{instance}/mcp"},
        "tags": [],
        **extra,
    }


def test_health_reports_every_registered_server_from_memory() -> None:
    service = Service(GatewaySettings(registry_url=None))
    (own,) = service.ecosystem_health().servers  # nothing registered: the gateway reports itself
    assert own.name == "gateway" and own.status == "up" and own.tool_count == len(OPERATIONS)

    async def apply() -> None:
        federation: Federation = service.dynamic_tools
        from gateway.domain.transport import Pool

        federation._http = Pool()
        await federation._apply(
            [_record("alpha", "a1"), _record("alpha", "a2", "unknown"), _record("beta", "b1", "down")]
        )
        for task in list(federation._tasks):
            task.cancel()
        federation._http.close()

    asyncio.run(apply())
    health = service.ecosystem_health()
    by_name = {s.name: s for s in health.servers}
    assert by_name["alpha"].status == "up" and by_name["alpha"].instances == 2 and by_name["alpha"].up_instances == 1
    assert by_name["beta"].status == "down" and by_name["beta"].tool_count == 0
    with pytest.raises(DomainError) as err:
        service.ecosystem_health(name="nobody")
    assert err.value.code == "server_not_found"


# -- the connection pool the gateway forwards on (domain/transport.py, through domain/wire.py) --------


async def _scripted_backend(answers: list[bytes]) -> tuple[Any, list[int]]:
    """A loopback server answering each request with the next of ``answers``; it closes the
    connection after an answer that says so. Returns the server and, per request, the number
    of the connection it came on."""
    seen: list[int] = []
    connections = iter(range(1, 1000))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = next(connections)
        while answers:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
            await reader.readexactly(length)
            seen.append(number)
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"connection: close" in answer.lower() or answer.startswith(b"HTTP/1.0"):
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, seen


def _json_answer(result: dict[str, Any], *extra: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    import json

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
    head = [version + b" 200 OK", b"content-type: application/json", b"content-length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def test_the_pool_keeps_connections_alive_and_drops_those_the_backend_closes() -> None:
    from gateway.domain import wire
    from gateway.domain.transport import Pool

    async def go() -> list[int]:
        answers = [
            _json_answer({"n": 1}),
            _json_answer({"n": 2}, b"connection: close"),
            _json_answer({"n": 3}, version=b"HTTP/1.0"),
            _json_answer({"n": 4}),
        ]
        server, seen = await _scripted_backend(answers)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp"
        pool = Pool()
        try:
            results = [await wire.request(pool, url, "tools/list", {}, {}) for _ in range(4)]
        finally:
            pool.close()
            server.close()
        assert [r["n"] for r in results] == [1, 2, 3, 4]
        return seen

    # the first two share a connection; the backend closed it after the second, and an HTTP/1.0
    # answer is never reused either
    assert asyncio.run(go()) == [1, 1, 2, 3]


def test_the_pool_relays_a_streamed_answers_progress_then_returns_its_result() -> None:
    import json

    from gateway.domain import wire
    from gateway.domain.transport import Pool

    def event(message: dict[str, Any]) -> bytes:
        data = b"data: " + json.dumps(message).encode() + b"\r\n\r\n"
        return b"%x\r\n%s\r\n" % (len(data), data)

    progress = [{"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": n / 2}} for n in (1, 2)]
    stream = b"".join(
        [
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            *(event(p) for p in progress),
            event({"jsonrpc": "2.0", "id": 1, "result": {"done": True}}),
            b"0\r\n\r\n",
        ]
    )

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        server, _ = await _scripted_backend([stream])
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp"
        relayed: list[dict[str, Any]] = []

        async def on_progress(params: dict[str, Any]) -> None:
            relayed.append(params)

        pool = Pool()
        try:
            result = await wire.request(pool, url, "tools/call", {"name": "t"}, {}, on_progress)
        finally:
            pool.close()
            server.close()
        return relayed, result

    relayed, result = asyncio.run(go())
    assert [p["progress"] for p in relayed] == [0.5, 1.0] and result == {"done": True}


def test_a_backend_that_refuses_connections_is_reported_as_never_sent() -> None:
    from gateway.domain import wire
    from gateway.domain.transport import Pool

    async def go() -> None:
        import socket

        with socket.socket() as sock:  # a port nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(wire.WireError) as err:
            await wire.request(Pool(), f"http://127.0.0.1:{port}/mcp", "tools/list", {}, {})
        assert err.value.sent is False

    asyncio.run(go())
