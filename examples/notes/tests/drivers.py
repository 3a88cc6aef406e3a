"""One driver per interface, each calling an operation by name and reporting the outcome the
same way, so tests can compare interfaces directly. Template-owned: generic over the table."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from typer.testing import CliRunner

from notes import OPERATIONS, Service
from notes import operations as table
from notes.core.errors import DomainError
from notes.core.operation import Operation
from notes.core.settings import ENV_PREFIX, Settings, get_settings
from notes.interfaces import cli
from notes.interfaces.rest import API_PREFIX, create_app

Outcome = tuple[str, Any]  # ("ok", result as JSON data) or ("error", code as a Failure)


class Failure(str):
    """An error outcome: equal to its code (what comparisons of outcomes use), carrying the
    problem's hint so a test can check that every interface passes the same one on."""

    hint: str | None = None


def failure(code: str, hint: Any) -> Outcome:
    value = Failure(code)
    value.hint = hint if isinstance(hint, str) else None
    return "error", value


# Fields whose values legitimately differ between two runs (timestamps, generated ids);
# operations.py may name them in VOLATILE_FIELDS and comparisons leave them out.
VOLATILE: frozenset[str] = frozenset(getattr(table, "VOLATILE_FIELDS", ()))
TOKEN = "test-token"
CLI_PROGRAM = str(Path(sys.executable).with_name("notes"))


def op_named(name: str) -> Operation:
    return next(op for op in OPERATIONS if op.name == name)


def cli_args(op: Operation, raw: dict[str, Any]) -> list[str]:
    """Command-line arguments for a call: the CLI's own rendering of an example's input."""
    return cli.example_argv(op, raw)


def cli_outcome(exit_code: int, stdout: str) -> Outcome:
    data = json.loads(stdout.strip().splitlines()[-1])
    return ("ok", data) if exit_code == 0 else failure(data["code"], data.get("hint"))


class NativeDriver:
    name = "python"

    def __init__(self, settings: Settings) -> None:
        self.service = Service.from_settings(settings)

    def call(self, name: str, raw: dict[str, Any]) -> Outcome:
        try:
            result = getattr(self.service, name)(**raw)
            if inspect.isawaitable(result):  # an async def operation (e.g. a long poll)
                result = asyncio.run(result)
            return "ok", result.model_dump(mode="json")
        except DomainError as exc:
            return failure(exc.code, exc.hint)


class CliDriver:
    """The Typer app in-process (CliRunner), configured through its environment variables."""

    name = "cli"

    def __init__(self, settings: Settings) -> None:
        self.env = {f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir)}

    def call(self, name: str, raw: dict[str, Any]) -> Outcome:
        get_settings.cache_clear()
        result = CliRunner().invoke(cli.app, cli_args(op_named(name), raw), env=self.env)
        get_settings.cache_clear()
        return cli_outcome(result.exit_code, result.stdout)


class CliProcessDriver(CliDriver):
    """The installed console script as a real process."""

    name = "cli-process"

    def call(self, name: str, raw: dict[str, Any]) -> Outcome:
        proc = subprocess.run(
            [CLI_PROGRAM, *cli_args(op_named(name), raw)],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=60,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return cli_outcome(proc.returncode, proc.stdout)


class RestDriver:
    name = "rest"

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"})

    def call(self, name: str, raw: dict[str, Any]) -> Outcome:
        op = op_named(name)
        body = dict(raw)
        path = op.path
        for param in op.path_params:
            path = path.replace("{" + param + "}", str(body.pop(param)))
        kwargs: dict[str, Any] = {"json": body} if op.has_body else {"params": body}
        response = self.http.request(op.method, API_PREFIX + path, **kwargs)
        if response.status_code == 202:  # a long-running operation: follow it to its end
            response = self.follow(response)
            status = response.json()
            if status["problem"] is not None:
                return failure(status["problem"]["code"], status["problem"].get("hint"))
            return "ok", status["result"]
        if response.is_success:
            return "ok", response.json()
        assert response.headers["content-type"] == "application/problem+json", response.text
        return failure(response.json()["code"], response.json().get("hint"))

    def follow(self, response: httpx.Response) -> httpx.Response:
        """Long-poll a 202's Location until the operation is done."""
        location = response.headers["location"]
        while not response.json()["done"]:
            params = {"revision": response.json()["revision"], "wait_seconds": 5}
            response = self.http.get(location, params=params)
            assert response.status_code == 200, response.text
        return response


class ClientDriver:
    """The remote Python client over REST."""

    name = "client"

    def __init__(self, base_url: str) -> None:
        from notes.interfaces.client import Client

        self.client = Client(base_url, token=TOKEN)

    def call(self, name: str, raw: dict[str, Any]) -> Outcome:
        try:
            result = getattr(self.client, name)(**raw)
            if op_named(name).long_running:
                result = result.wait(timeout=60)  # the method returns a handle
            return "ok", result.model_dump(mode="json")
        except DomainError as exc:
            return failure(exc.code, exc.hint)


class McpDriver:
    """A real MCP client session (in memory, or over streamable HTTP when given a URL)."""

    name = "mcp"

    def __init__(self, target: Any, portal: Any) -> None:
        from mcp import Client

        if isinstance(target, str):
            target = _http_transport(target, {"Authorization": f"Bearer {TOKEN}"})
        self.portal = portal
        self.session = portal.wrap_async_context_manager(Client(target))
        self.client = self.session.__enter__()

    def call(self, name: str, raw: dict[str, Any]) -> Outcome:
        result = self.portal.call(self.client.call_tool, name, raw)
        if result.is_error:
            return failure(result.structured_content["code"], result.structured_content.get("hint"))
        return "ok", result.structured_content

    def close(self) -> None:
        self.session.__exit__(None, None, None)


def _http_transport(url: str, headers: dict[str, str]) -> Any:
    import httpx2  # the MCP SDK's HTTP client
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """A real uvicorn server on loopback in a background thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def stable(value: Any) -> Any:
    """`value` without the volatile fields, at any depth."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return type(value)(stable(v) for v in value)
    return value


def replay(driver: Any) -> list[Outcome]:
    """Every example of the table, in order, through one driver."""
    return [stable(driver.call(op.name, dict(ex.input))) for op in OPERATIONS for ex in op.examples]


def expected_codes() -> list[str | None]:
    return [ex.error for op in OPERATIONS for ex in op.examples]
