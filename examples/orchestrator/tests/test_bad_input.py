"""Bad input on every interface gets a clear error with a stable code, never a traceback, and
leaves what is stored untouched. Template-owned."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from drivers import CLI_PROGRAM, TOKEN, NativeDriver, stable

from orchestrator import OPERATIONS
from orchestrator.core.settings import ENV_PREFIX
from orchestrator.interfaces.rest import API_PREFIX

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
INT64_TOO_BIG = 2**63


@pytest.fixture
def stored(settings: Any) -> Any:
    """Replay the succeeding examples so there is data to protect; return a snapshot function."""
    native = NativeDriver(settings)
    for op in OPERATIONS:
        for ex in op.examples:
            if ex.error is None and not op.destructive:
                native.call(op.name, dict(ex.input))
    listing = next(op for op in OPERATIONS if op.read_only and not op.path_params)
    return lambda: stable(native.call(listing.name, {}))


@dataclasses.dataclass
class Case:
    """One bad request and the refusal it must get. Each finding is one more row."""

    name: str
    method: str
    path: str
    status: int
    code: str | None  # None: not an error (e.g. HEAD /health)
    content: bytes | Iterator[bytes] | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] | None = None
    expect_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    auth: bool = True
    prefixed: bool = True


def _path(op: Any) -> str:
    """The operation's path with each path parameter filled from its first example."""
    example = next((ex.input for ex in op.examples), {})
    return op.path.format(**{p: example.get(p, "x") for p in op.path_params})


def _int_fields(op: Any) -> list[str]:
    return [
        n
        for n, f in op.input_model.model_fields.items()
        if n not in op.path_params and (f.annotation is int or f.annotation == int | None)
    ]


def _chunks(total: int) -> Iterator[bytes]:
    """A body with no Content-Length (sent chunked), ``total`` bytes of a JSON string."""
    yield b'{"x": "'
    for _ in range(total // 8192):
        yield b"a" * 8192
    yield b'"}'


def rest_cases(max_body: int, max_depth: int) -> list[Case]:
    """The table, built from the operation table so it fits any domain."""
    target = _path(next(op for op in OPERATIONS if op.has_body and op.method == "POST"))
    invalid, too_large, media, origin, host = (
        "validation_error",
        "payload_too_large",
        "unsupported_media_type",
        "origin_not_allowed",
        "host_not_allowed",
    )
    text, form = {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}

    def post(name: str, status: int, code: str, content: Any = b"{}", headers: dict[str, str] = JSON) -> Case:
        return Case(name, "POST", target, status, code, content, headers)

    deep = b"[" * (max_depth + 1) + b"]" * (max_depth + 1)
    cases = [
        post("malformed JSON", 422, invalid, b"{not json"),
        post("JSON array body", 422, invalid, b"[1, 2]"),
        post("unknown field", 422, invalid, b'{"__unknown__": 1}'),
        post("JSON one level too deep", 422, invalid, deep),
        post("JSON 5000 levels deep", 422, invalid, b'{"a":' * 5000 + b"1" + b"}" * 5000),
        post("declared oversize body", 413, too_large, b'{"x": "' + b"a" * max_body + b'"}'),
        post("chunked oversize body", 413, too_large, _chunks(max_body + 16384)),
        post("text/plain POST", 415, media, headers=text),
        post("body without content type", 415, media, headers={}),
        post("form POST", 415, media, b"a=1", form),
        post("cross-origin text/plain POST", 403, origin, headers={**text, "origin": "http://evil.example"}),
        post("cross-origin JSON POST", 403, origin, headers={**JSON, "origin": "null"}),
        post("foreign Host with port", 400, host, headers={**JSON, "host": "evil.example:80"}),
        Case("foreign Host", "GET", "/health", 400, host, headers={"host": "evil.example"}, prefixed=False),
        Case("unknown route", "GET", "/no-such-operation", 404, "unknown_operation"),
        Case("HEAD /health", "HEAD", "/health", 200, None, prefixed=False),
    ]
    first = OPERATIONS[0]
    taken = {op.method for op in OPERATIONS if op.path == first.path}
    unused = next(m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in taken)
    allow = ", ".join(sorted(taken | ({"HEAD"} if "GET" in taken else set())))
    cases.append(Case("wrong method", unused, _path(first), 405, "unknown_operation", expect_headers={"allow": allow}))
    for op in OPERATIONS:
        ints, path = _int_fields(op), _path(op)
        if ints and op.has_body:
            big = json.dumps({ints[0]: INT64_TOO_BIG}).encode()
            cases.append(Case(f"{op.name}: int above 2^63-1", op.method, path, 422, invalid, big, JSON))
        elif ints:
            for bad in ("many", str(INT64_TOO_BIG)):
                query = {ints[0]: bad}
                cases.append(Case(f"{op.name}: int {bad}", op.method, path, 422, invalid, params=query))
        if op.method == "PATCH":
            cases.append(Case(f"{op.name}: no fields", "PATCH", path, 422, invalid, b"{}", JSON))
    mutating = next(op for op in OPERATIONS if op.mutating and op.has_body)
    no_token = Case("no bearer token", mutating.method, _path(mutating), 401, "unauthorized", b"{}", JSON, auth=False)
    no_token.expect_headers = {"www-authenticate": "Bearer"}
    cases.append(no_token)
    ping = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
    accept = {**JSON, "accept": "application/json, text/event-stream"}
    for name, status, code, content, headers in (
        ("MCP: foreign Host", 400, host, ping, {**accept, "host": "evil.example"}),
        ("MCP: foreign Origin", 403, origin, ping, {**accept, "origin": "http://evil.example"}),
        ("MCP: text/plain", 415, media, ping, text),
        ("MCP: chunked oversize body", 413, too_large, _chunks(max_body + 16384), accept),
    ):
        cases.append(Case(name, "POST", "/mcp", status, code, content, headers, prefixed=False))
    return cases


def test_rest_refuses_bad_requests(server_url: str, stored: Any, settings: Any) -> None:
    """Every row: the status, the stable code, the headers the status needs, and no change stored."""
    before = stored()
    http = httpx.Client(base_url=server_url)
    for case in rest_cases(settings.max_body_bytes, settings.max_json_depth):
        headers = {**(AUTH if case.auth else {}), **case.headers}
        path = (API_PREFIX if case.prefixed else "") + case.path
        response = http.request(case.method, path, content=case.content, headers=headers, params=case.params)
        where = f"{case.name}: {response.status_code} {response.text[:300]}"
        assert response.status_code == case.status, where
        for name, value in case.expect_headers.items():
            assert value in response.headers.get(name, ""), (where, dict(response.headers))
        if case.code is not None:
            assert response.headers["content-type"] == "application/problem+json", where
            problem = response.json()
            assert problem["code"] == case.code and problem["detail"], where
            assert problem["request_id"], where
            assert "Traceback" not in response.text, where
        assert stored() == before, case.name


def test_oversize_body_refused_while_streaming(server_url: str, settings: Any) -> None:
    """The 413 arrives after just over the limit is sent, while the client could send much more."""
    host, port = server_url.removeprefix("http://").split(":")
    body_op = next(op for op in OPERATIONS if op.has_body and op.method == "POST")
    chunk = b"a" * 8192
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (
            f"POST {API_PREFIX}{_path(body_op)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        for _ in range(settings.max_body_bytes // len(chunk) + 2):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # The body is unfinished (no final 0-size chunk): a server that buffers it whole never answers.
        answer = ""
        while "payload_too_large" not in answer and (part := sock.recv(65536)):
            answer += part.decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "payload_too_large" in answer


def test_shadowed_route_refused_when_app_is_built(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A route an earlier one always answers (`/x/count` after `/x/{id}`) is an error at build time."""
    from orchestrator.core.operation import Operation
    from orchestrator.interfaces import rest

    target = next(op for op in OPERATIONS if op.path_params)
    literal = target.path.replace("{" + target.path_params[-1] + "}", "count")

    def count_things() -> None:
        """Never reachable: the target operation answers every request for its path."""

    monkeypatch.setattr(rest, "OPERATIONS", (*OPERATIONS, Operation(count_things, target.method, literal)))
    with pytest.raises(ValueError, match="shadowed") as refused:
        rest.create_app(settings)
    assert target.name in str(refused.value) and "count_things" in str(refused.value)


def test_openapi_same_status_errors_in_a_fixed_order() -> None:
    """Two declared errors with one HTTP status document the same way whatever their order."""
    from orchestrator.core.errors import DomainError
    from orchestrator.interfaces.openapi_docs import responses

    class First(DomainError):
        code, title, http_status = "zz_first_conflict", "First conflict", 409

    class Second(DomainError):
        code, title, http_status = "zz_second_conflict", "Second conflict", 409

    assert responses([Second, First]) == responses([First, Second])
    assert responses([Second, First])[409]["description"] == "First conflict / Second conflict"


def test_unexpected_error_is_a_sanitized_500_with_the_request_id(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug answers 500 internal_error: no detail for the caller, the traceback in the log, and
    the same request id in both so the two can be matched."""
    import logging

    from orchestrator.core import logs
    from orchestrator.core.operation import Operation

    def broken(self: Operation, service: Any, arguments: Any) -> Any:
        raise RuntimeError("secret internal detail")

    logged: list[tuple[str | None, bool]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append((logs.request_id.get(), record.exc_info is not None))

    handler = Capture(level=logging.ERROR)
    logging.getLogger().addHandler(handler)
    monkeypatch.setattr(Operation, "call", broken)
    listing = next(op for op in OPERATIONS if op.read_only and not op.path_params)
    try:
        response = httpx.get(server_url + API_PREFIX + listing.path, headers={"X-Request-ID": "trace-500"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 500, response.text
    problem = response.json()
    assert problem["code"] == "internal_error" and problem["request_id"] == "trace-500"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert ("trace-500", True) in logged


def test_ready_runs_the_service_readiness_check(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """/ready answers 503 when the service's own check fails or overruns the store deadline;
    /health answers meanwhile (it never waits on a worker thread)."""
    import threading

    from drivers import running_server

    from orchestrator.core.errors import StoreUnavailable
    from orchestrator.domain.service import Service

    release = threading.Event()

    def gone(self: Any) -> None:
        raise StoreUnavailable("The store is gone")

    def stuck(self: Any) -> None:
        release.wait(30)

    with running_server(settings.model_copy(update={"store_timeout_seconds": 0.2})) as url:
        assert httpx.get(url + "/ready").status_code == 200
        monkeypatch.setattr(Service, "readiness", gone, raising=False)
        failed = httpx.get(url + "/ready")
        assert failed.status_code == 503 and failed.json()["code"] == "store_unavailable", failed.text
        monkeypatch.setattr(Service, "readiness", stuck, raising=False)
        try:
            late = httpx.get(url + "/ready", timeout=30)
            assert httpx.get(url + "/health").status_code == 200
        finally:
            release.set()
        assert late.status_code == 503 and late.json()["code"] == "store_unavailable", late.text
        assert late.json()["retryable"] is True


def _bad_cli_calls() -> list[list[str]]:
    """An unknown command, a wrong type and a missing required value, from the table."""
    calls = [["no-such-command"]]
    for op in OPERATIONS:
        fields = op.input_model.model_fields
        ints = [n for n, f in fields.items() if f.annotation is int and n not in op.path_params]
        if ints:
            calls.append([op.cli_name, *["x"] * len(op.path_params), f"--{ints[0].replace('_', '-')}", "many"])
        required = [n for n, f in fields.items() if f.is_required() and n not in op.path_params]
        if required and not op.path_params:
            calls.append([op.cli_name])
    return calls


def test_cli_rejects_bad_input(settings: Any, stored: Any) -> None:
    before = stored()
    env = {f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir), "PATH": ""}
    for args in _bad_cli_calls():
        proc = subprocess.run([CLI_PROGRAM, *args], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.strip() and "Traceback" not in proc.stderr
    assert stored() == before


def test_mcp_rejects_bad_input(settings: Any, stored: Any) -> None:
    import anyio
    from mcp import Client

    from orchestrator.domain.service import Service
    from orchestrator.interfaces.mcp import create_mcp_server

    before = stored()
    server = create_mcp_server(Service.from_settings(settings), settings)

    bad: list[tuple[str, dict[str, Any]]] = [("no_such_tool", {})]
    for op in OPERATIONS:
        bad.append((op.name, {"__unknown__": 1}))
        for name, field in op.input_model.model_fields.items():
            if field.annotation is int or field.annotation is str:
                bad.append((op.name, {name: ["not", "a", "scalar"]}))

    async def calls() -> list[Any]:
        async with Client(server) as client:
            return [await client.call_tool(name, args) for name, args in bad]

    for result in anyio.run(calls):
        assert result.is_error
        assert result.structured_content["code"] in {"validation_error", "unknown_operation"}
    assert stored() == before
