"""Bad input on every interface gets a clear error with a stable code, never a traceback, and
leaves what is stored untouched. Template-owned."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from drivers import CLI_PROGRAM, TOKEN, NativeDriver, free_port, stable

from search import OPERATIONS
from search.core.settings import ENV_PREFIX, Settings
from search.interfaces.rest import API_PREFIX

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


def _too_many_items(op: Any, path: str) -> list[Case]:
    """For each list field with a length bound: one item more than it allows (an item taken from
    the operation's examples, so only the count is wrong)."""
    rows = []
    properties = op.input_model.model_json_schema().get("properties", {})
    for name, schema in properties.items():
        bound = next((s["maxItems"] for s in [schema, *schema.get("anyOf", [])] if "maxItems" in s), None)
        lists = [ex.input[name] for ex in op.examples if isinstance(ex.input.get(name), list) and ex.input[name]]
        item = lists[0][0] if bound is not None and lists else None
        if item is not None:
            given = {k: v for k, v in op.examples[0].input.items() if k not in op.path_params}
            body = json.dumps({**given, name: [item] * (bound + 1)}).encode()
            rows.append(Case(f"{op.name}: {bound + 1} {name}", op.method, path, 422, "validation_error", body, JSON))
    return rows


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
    cases.append(Case("wrong method", unused, _path(first), 405, "method_not_allowed", expect_headers={"allow": allow}))
    for op in OPERATIONS:
        ints, path = _int_fields(op), _path(op)
        if ints and op.has_body:
            big = json.dumps({ints[0]: INT64_TOO_BIG}).encode()
            cases.append(Case(f"{op.name}: int above 2^63-1", op.method, path, 422, invalid, big, JSON))
            boolean = json.dumps({ints[0]: True}).encode()
            cases.append(Case(f"{op.name}: true for an int", op.method, path, 422, invalid, boolean, JSON))
        if op.has_body:
            cases += _too_many_items(op, path)
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
            if case.path == "/mcp":  # an MCP client reads a JSON-RPC error, the problem in `data`
                assert response.headers["content-type"] == "application/json", where
                problem = response.json()["error"]["data"]
            else:
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
    from search.core.operation import Operation
    from search.interfaces import rest

    target = next(op for op in OPERATIONS if op.path_params)
    literal = target.path.replace("{" + target.path_params[-1] + "}", "count")

    def count_things() -> None:
        """Never reachable: the target operation answers every request for its path."""

    monkeypatch.setattr(rest, "OPERATIONS", (*OPERATIONS, Operation(count_things, target.method, literal)))
    with pytest.raises(ValueError, match="shadowed") as refused:
        rest.create_app(settings)
    assert target.name in str(refused.value) and "count_things" in str(refused.value)


def test_a_table_that_would_serve_otherwise_than_it_reads_is_refused(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two entries of one name (each interface would keep one), or a method HTTP has not."""
    from search.core.operation import Operation
    from search.interfaces import rest

    first = OPERATIONS[0]
    again = Operation(first.handler, first.method, "/again" + first.path)
    monkeypatch.setattr(rest, "OPERATIONS", (*OPERATIONS, again))
    with pytest.raises(ValueError, match="twice") as refused:
        rest.create_app(settings)
    assert first.name in str(refused.value)
    with pytest.raises(ValueError, match="FETCH"):
        Operation(first.handler, "FETCH", first.path)


def test_openapi_same_status_errors_in_a_fixed_order() -> None:
    """Two declared errors with one HTTP status document the same way whatever their order."""
    from search.core.errors import DomainError
    from search.interfaces.openapi_docs import responses

    class First(DomainError):
        code, title, http_status = "zz_first_conflict", "First conflict", 409

    class Second(DomainError):
        code, title, http_status = "zz_second_conflict", "Second conflict", 409

    assert responses([Second, First]) == responses([First, Second])
    assert responses([Second, First])[409]["description"] == "First conflict / Second conflict"


def test_help_lists_only_the_packages_own_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error class some other module defines (a test, an embedding program) is not one of this
    CLI's exit codes, and never reaches the cached `--help`."""
    from search.core.errors import DomainError
    from search.interfaces import cli_index

    class Foreign(DomainError):
        code, title, exit_code = "zz_foreign", "Foreign", 3

    monkeypatch.setattr(cli_index, "_INDEX", {})
    monkeypatch.setattr(cli_index, "INDEX_FILE", tmp_path / "cli-index.marshal")
    codes = {code for _, code in cli_index.index()["exit_codes"]}
    assert Foreign.code not in codes and "validation_error" in codes


def test_unexpected_error_is_a_sanitized_500_with_the_request_id(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug answers 500 internal_error: no detail for the caller, the traceback in the log, and
    the same request id in both so the two can be matched."""
    import logging

    from search.core import logs
    from search.core.operation import Operation

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

    from search.core.errors import StoreUnavailable
    from search.domain.service import Service

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


@dataclasses.dataclass(frozen=True)
class CliCase:
    """One bad call of the CLI: the exit code it must get, with one line on stderr that says
    `says` (the variable, option or reason to fix)."""

    why: str
    args: list[str]
    exit_code: int
    says: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    program: list[str] | None = None


# Replaces one piece of the CLI with a function that raises, then runs it: an unexpected error
# outside (`_open_service`) or inside an operation (its handler) must still be one line.
CRASH = """
import sys
from search.interfaces import cli
from search.operations import OPERATIONS

def boom(*args, **kwargs):
    raise RuntimeError("boom")

if sys.argv[1] == "outside":
    cli._open_service = boom
else:
    op = next(o for o in OPERATIONS if o.cli_name == sys.argv[2])
    op.input_model  # built from the real signature before the handler is swapped
    boom.__name__ = op.name
    object.__setattr__(op, "handler", boom)
sys.argv[1:2] = []
cli.main()
"""


def _bad_cli_calls(tmp: Path, busy_port: int, has_store: bool) -> list[CliCase]:
    """Every way a CLI call can go wrong that the CLI must answer in one line, as table rows."""
    listing = next(op for op in OPERATIONS if op.read_only and not op.path_params).cli_name
    # `serve` on the busy port: a row whose fault went unnoticed ends at once (exit 8), not serving
    commands = [[listing], ["serve", "--port", str(busy_port)], ["mcp"]]
    a_file = tmp / "a-file"
    a_file.write_text("not a folder")
    broken_store = tmp / "broken-store"  # filled by the test with garbage where the store was
    cases = [CliCase("unknown command", ["no-such-command"], 2, "no-such-command")]
    for op in OPERATIONS:
        fields = op.input_model.model_fields
        ints = [n for n, f in fields.items() if f.annotation is int and n not in op.path_params]
        if ints:
            flag = f"--{ints[0].replace('_', '-')}"
            cases.append(CliCase("wrong type", [op.cli_name, *["x"] * len(op.path_params), flag, "many"], 2, ints[0]))
        required = [n for n, f in fields.items() if f.is_required() and n not in op.path_params]
        if required and not op.path_params:
            cases.append(CliCase("missing value", [op.cli_name], 2, required[0]))
    for variable, value in _bad_settings(a_file).items():
        # every variable on a domain command; serve and mcp with one of each kind
        for args in commands if variable in ("PORT", "LOG_LEVEL", "DATA_DIR", "REGISTRY_URL") else commands[:1]:
            cases.append(CliCase(f"{variable}={value}", args, 2, ENV_PREFIX + variable, {ENV_PREFIX + variable: value}))
    data_dirs = {"under a file": str(a_file / "data"), "name too long": str(tmp / ("x" * 300))}
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp / "locked"
        locked.mkdir(mode=0o500)
        data_dirs["not writable"] = str(locked / "data")
    for why, path in data_dirs.items():
        cases.append(CliCase(f"data dir {why}", [listing], 2, f"{ENV_PREFIX}DATA_DIR", {f"{ENV_PREFIX}DATA_DIR": path}))
    for args in commands if has_store else []:
        env = {f"{ENV_PREFIX}DATA_DIR": str(broken_store)}
        cases.append(CliCase("store cannot be opened", args, 7, "store", env))
    closed = f"http://127.0.0.1:{free_port()}"
    cases += [
        CliCase("malformed --url", [listing, "--url", "http//nowhere"], 2, "--url"),
        CliCase("unreachable --url", [listing, "--url", closed], 6, "127.0.0.1"),
        CliCase("port 0", ["serve", "--port", "0"], 2, "--port"),
        CliCase("port above 65535", ["serve", "--port", "70000"], 2, "--port"),
        CliCase("port not a number", ["serve", "--port", "http"], 2, "--port"),
        CliCase("port 0 from the environment", ["serve"], 2, f"{ENV_PREFIX}PORT", {f"{ENV_PREFIX}PORT": "0"}),
        CliCase("busy port", ["serve", "--port", str(busy_port)], 8, str(busy_port)),
        CliCase("unknown host", ["serve", "--host", "no-such-host.invalid"], 2, "--host"),
        CliCase("public bind without a token", ["serve", "--host", "0.0.0.0"], 2, "ALLOW_PUBLIC_BIND"),
        # allowed public binds get as far as the (busy) port, so nothing is exposed by the test
        CliCase(
            "public bind allowed",
            ["serve", "--host", "0.0.0.0", "--port", str(busy_port)],
            8,
            str(busy_port),
            {f"{ENV_PREFIX}ALLOW_PUBLIC_BIND": "true"},
        ),
        CliCase(
            "public bind with a token",
            ["serve", "--host", "0.0.0.0", "--port", str(busy_port)],
            8,
            str(busy_port),
            {f"{ENV_PREFIX}API_TOKEN": "s3cret"},
        ),
    ]
    for where in ("outside", "inside"):
        program = [sys.executable, "-c", CRASH, where]
        cases.append(CliCase(f"unexpected error {where} an operation", [listing], 1, ".log", program=program))
    return cases


def test_cli_shows_control_characters_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """Stored text can hold escape sequences; a terminal shown them must not obey them (retitle,
    clear, move the cursor back over a line), in results and in one-line errors alike."""
    from pydantic import create_model

    from search.interfaces.cli import _print_result
    from search.interfaces.cli_faults import _one_line

    hostile = "\x1b]0;pwned\x07\x1b[2J\rfake: ok\u202e\x9b"
    _print_result(create_model("Shown", text=(str, ...))(text=hostile + "\nsecond line\tand a tab"), as_json=False)
    shown = capsys.readouterr().out
    for obeyed in ("\x1b", "\x07", "\r", "\u202e", "\x9b"):
        assert obeyed not in shown and obeyed not in _one_line(hostile), repr(shown)
    assert "\\x1b]0;pwned\\x07" in shown and "\nsecond line\tand a tab" in shown, repr(shown)


def _bad_settings(a_file: Path) -> dict[str, str]:
    """A value each setting must refuse, by its type: variable name (without prefix) -> value."""
    bad = {}
    for name, info in Settings.model_fields.items():
        kinds = {info.annotation, *typing.get_args(info.annotation)}
        if name == "url" or name.endswith("_url"):
            bad[name] = "javascript:alert(1)"
        elif name == "allowed_origins":
            bad[name] = "not an origin"
        elif bool in kinds:
            bad[name] = "maybe"
        elif kinds & {int, float}:
            bad[name] = "many"
        elif typing.get_origin(info.annotation) is typing.Literal:
            bad[name] = "NOT-A-CHOICE"
        elif Path in kinds:
            bad[name] = str(a_file)
    return {name.upper(): value for name, value in bad.items()}


def test_cli_rejects_bad_input(settings: Any, stored: Any, tmp_path: Path) -> None:
    before = stored()
    broken = settings.model_copy(update={"data_dir": tmp_path / "broken-store"})
    NativeDriver(broken).call(next(op for op in OPERATIONS if op.read_only and not op.path_params).name, {})
    store_files = [path for path in broken.data_dir.iterdir() if path.is_file()] if broken.data_dir.is_dir() else []
    for path in store_files:  # a domain that keeps no store file there has no such rows
        path.write_bytes(b"this is not a store\n" * 64)
    env = {f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir), "PATH": ""}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        failures = []
        for case in _bad_cli_calls(tmp_path, busy.getsockname()[1], bool(store_files)):
            program = case.program or [CLI_PROGRAM]
            try:
                proc = subprocess.run(
                    [*program, *case.args], capture_output=True, text=True, env={**env, **case.env}, timeout=60
                )
            except subprocess.TimeoutExpired:
                failures.append((case.why, case.args, "still running after 60 s"))
                continue
            lines = proc.stderr.strip().splitlines()
            if proc.returncode != case.exit_code or len(lines) != 1 or case.says not in lines[0]:
                failures.append((case.why, case.args, proc.returncode, proc.stderr[-600:]))
            elif case.says == ".log":  # the named log holds the traceback
                log = Path(re.findall(r"(\S+\.log)", lines[0])[0])
                assert "Traceback" in log.read_text() and "boom" in log.read_text(), log.read_text()
                log.unlink()
            assert "Traceback" not in proc.stderr + proc.stdout, (case.why, proc.stderr)
    assert not failures, "\n".join(map(str, failures))
    assert stored() == before


def _tool_rows() -> list[tuple[str, dict[str, Any], str, str | None]]:
    """(tool, arguments, code, field the error must name), from the table: an unknown tool and
    field, non-scalars, integers beyond any bound, a cursor this server never made."""
    from search.core.operation import is_list, is_structured

    rows: list[tuple[str, dict[str, Any], str, str | None]] = [("no_such_tool", {}, "unknown_operation", None)]
    for op in OPERATIONS:
        rows.append((op.name, {"__unknown__": 1}, "validation_error", "__unknown__"))
        for name, field in op.input_model.model_fields.items():
            if is_list(field.annotation) or is_structured(field.annotation):
                continue  # a list or an object is the right shape for these
            types = {field.annotation, *getattr(field.annotation, "__args__", ())}
            if int in types or str in types:
                rows.append((op.name, {name: ["not", "a", "scalar"]}, "validation_error", name))
            if int in types:
                rows += [(op.name, {name: bad}, "validation_error", name) for bad in (2**64, -(2**64), True)]
            if name == "cursor":
                rows.append((op.name, {name: "not-a-cursor"}, "validation_error", name))
    return rows


#: Raw POST bodies to /mcp: each is answered with a JSON-RPC error, never silence or a 500.
WIRE_ROWS: list[tuple[bytes, int]] = [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (b"42", 400),
    (b'{"jsonrpc": "2.0", "id": 3}', 400),
    (b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": {"s": "\\ud800"}}}', 400),
]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _in_flight_bound(http: httpx.Client, url: str, limit: int) -> None:
    """One more request than the MCP bound, each with its body still arriving: exactly one is
    refused at once with a 503 that says so; the others are served once their bodies finish."""
    import json
    import select
    import socket
    from http.client import HTTPResponse

    def answer(sock: socket.socket) -> tuple[int, str | None, bytes]:
        response = HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("retry-after"), response.read()

    body = json.dumps(INITIALIZE).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {**MCP_HEADERS, **AUTH}.items())
    port = int(url.rsplit(":", 1)[1])
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(limit + 1)]
    for sock in held:
        sock.sendall(
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
    answered, _, _ = select.select(held, [], [], 60)  # the first answer is the refusal
    assert len(answered) == 1, "exactly one request over the bound is answered before its body is complete"
    status, retry_after, refusal = answer(answered[0])
    assert status == 503 and retry_after and json.loads(refusal)["error"]["data"]["code"] == "unavailable"
    for sock in held:
        if sock is not answered[0]:
            sock.sendall(body[10:])
            assert answer(sock)[0] == 200
        sock.close()
    for _ in range(1000):  # the finished requests leave the bound on the server's own thread
        response = http.post("/mcp", json=INITIALIZE)
        if response.status_code != 503:
            break
    assert response.status_code == 200, response.text


def test_mcp_rejects_bad_input(settings: Any, stored: Any) -> None:
    """Over real streamable HTTP: bad tool input is an is_error result with a stable code,
    malformed messages get JSON-RPC errors, and a flood of opening requests without
    a token leaves room for the next client."""
    import anyio
    from drivers import _http_transport, running_server
    from mcp import Client

    before = stored()
    settings = settings.model_copy(update={"mcp_max_sessions": 5})
    with running_server(settings) as url:
        http = httpx.Client(base_url=url, headers={**MCP_HEADERS, **AUTH})
        for body, status in WIRE_ROWS:  # (oversize bodies are the guard's rows, above)
            response = http.post("/mcp", content=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]["code"] < 0 and "Traceback" not in response.text
        levels = settings.max_json_depth  # inside two objects: two levels too deep
        deep = b'{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"a": ' + b"[" * levels + b"]" * levels + b"}}"
        for method, body, status, code in (
            ("GET", None, 405, "method_not_allowed"),  # a stream a stateless server never writes to
            ("DELETE", None, 405, "method_not_allowed"),  # no session to end
            ("POST", deep, 422, "validation_error"),  # deeper than max_json_depth, as on REST
        ):
            response = http.request(method, "/mcp", content=body)
            assert response.status_code == status, (method, response.text)
            assert response.json()["error"]["data"]["code"] == code, response.text
            if status == 405:
                assert response.headers["allow"] == "POST"
        # The flood: far more opening requests than the session bound; none may hold a place.
        flood = {**MCP_HEADERS}
        for _ in range(4 * settings.mcp_max_sessions):
            response = httpx.post(url + "/mcp", json=INITIALIZE, headers=flood)
            assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["data"]["code"] == "unauthorized"
        # The current revision has no handshake: each call stands alone, and needs the token too.
        modern = {**flood, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}
        listing = httpx.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=modern)
        assert listing.status_code == 401, listing.text
        _in_flight_bound(http, url, settings.mcp_max_sessions)

        async def calls() -> list[Any]:
            async with Client(_http_transport(url + "/mcp", AUTH)) as client:
                return [await client.call_tool(name, args) for name, args, _, _ in _tool_rows()]

        results = anyio.run(calls)
    for (name, args, code, field), result in zip(_tool_rows(), results, strict=True):
        assert result.is_error, (name, args)
        problem = result.structured_content
        assert problem["code"] == code, (name, args, problem)
        assert field is None or any(err["loc"][:1] == [field] for err in problem["errors"]), (name, args, problem)
    assert stored() == before
