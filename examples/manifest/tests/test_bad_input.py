"""Bad input on every interface gets a clear error with a stable code, never a traceback, and
leaves what is stored untouched. Template-owned."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest
from drivers import CLI_PROGRAM, TOKEN, NativeDriver, stable

from manifest import OPERATIONS
from manifest.core.settings import ENV_PREFIX
from manifest.interfaces.rest import API_PREFIX

AUTH = {"Authorization": f"Bearer {TOKEN}"}


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


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["detail"] and "Traceback" not in response.text


def test_rest_rejects_bad_input(server_url: str, stored: Any, settings: Any) -> None:
    before = stored()
    http = httpx.Client(base_url=server_url + API_PREFIX, headers=AUTH)
    body_ops = [op for op in OPERATIONS if op.has_body]
    assert body_ops, "the table needs at least one operation with a body"
    for op in body_ops:
        path = op.path.format(**{p: "x" for p in op.path_params})
        _problem(
            http.request(op.method, path, content=b"{not json", headers={"content-type": "application/json"}),
            422,
            "validation_error",
        )
        _problem(http.request(op.method, path, content=b"[1, 2]"), 422, "validation_error")
        _problem(http.request(op.method, path, json={"__unknown__": 1}), 422, "validation_error")
        big = b'{"x": "' + b"a" * (settings.max_body_bytes + 10) + b'"}'
        _problem(http.request(op.method, path, content=big), 413, "payload_too_large")
    for op in OPERATIONS:  # wrong types in the query string
        ints = [n for n, f in op.input_model.model_fields.items() if f.annotation is int and n not in op.path_params]
        if not op.has_body and ints:
            path = op.path.format(**{p: "x" for p in op.path_params})
            _problem(http.request(op.method, path, params={ints[0]: "many"}), 422, "validation_error")
    _problem(http.get("/no-such-operation"), 404, "unknown_operation")
    first = OPERATIONS[0]
    taken = {op.method for op in OPERATIONS if op.path == first.path}
    unused = next(m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in taken)
    path = first.path.format(**{p: "x" for p in first.path_params})
    _problem(http.request(unused, path), 405, "unknown_operation")
    assert stored() == before


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

    from manifest.domain.service import Service
    from manifest.interfaces.mcp import create_mcp_server

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
