"""`--help` and domain commands must not pay for the web and MCP stacks. Template-owned."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from drivers import CLI_PROGRAM, free_port

PROBE = """
import sys
from gateway.interfaces.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy_names = {"fastapi", "mcp", "uvicorn", "starlette", "httpx", "opentelemetry"}
heavy = sorted({m.split(".")[0] for m in sys.modules} & heavy_names)
print("HEAVY:" + ",".join(heavy))
"""


def _domain_command() -> list[str]:
    from gateway import OPERATIONS

    return [next(op for op in OPERATIONS if op.read_only and not op.path_params).cli_name, "--json"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], _domain_command()])
def test_cli_start_up_stays_light(args: list[str], tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={"GATEWAY_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:", proc.stdout


def test_help_lists_every_operation_without_loading_the_domain(tmp_path: object) -> None:
    from gateway import OPERATIONS

    probe = PROBE.replace('"opentelemetry"}', '"opentelemetry", "pydantic"}')
    for _ in range(2):  # the first run may build the command index, the second must reuse it
        proc = subprocess.run(
            [sys.executable, "-c", probe, "--help"],
            capture_output=True,
            text=True,
            env={"GATEWAY_DATA_DIR": str(tmp_path)},
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:", proc.stdout
    for op in OPERATIONS:
        assert op.cli_name in proc.stdout and op.summary[:30] in proc.stdout


def test_help_lists_the_exit_codes() -> None:
    from gateway.core.errors import DomainError

    help_command = [sys.executable, "-m", "gateway", "--help"]
    proc = subprocess.run(help_command, capture_output=True, text=True, timeout=60)
    # One entry per exit code; a long list of codes wraps onto indented continuation lines.
    entries = re.split(r"\n(?=  \d+ )", proc.stdout.split("Exit codes:")[1])
    listed = {int(e.split()[0]): " ".join(e.split()[1:]) for e in entries if e.strip()}
    for code, cls in _package_errors(DomainError).items():
        assert code in listed.get(cls.exit_code, ""), (code, cls.exit_code, listed)


def _package_errors(base: type) -> dict[str, type]:
    """The error classes this package defines (tests define throwaway ones of their own)."""
    package = base.__module__.split(".")[0]
    return {code: cls for code, cls in base.by_code.items() if cls.__module__.split(".")[0] == package}


def test_version_names_the_server() -> None:
    from gateway.core.about import NAME, VERSION

    version_command = [sys.executable, "-m", "gateway", "--version"]
    proc = subprocess.run(version_command, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"{NAME} {VERSION}")


@pytest.mark.parametrize("written", ["stale", "garbled"])
def test_command_index_is_rebuilt(written: str) -> None:
    import marshal

    from gateway.interfaces import cli_index

    stale = {"stamp": [], "commands": {"ghost": "not an operation"}, "builtins": {}, "exit_codes": []}
    cli_index.INDEX_FILE.parent.mkdir(exist_ok=True)
    cli_index.INDEX_FILE.write_bytes(marshal.dumps(stale) if written == "stale" else b"\x00not marshal")
    cli_index._INDEX.clear()  # forget what this process already read
    index = cli_index.operation_index()
    assert "ghost" not in index and index


def test_every_listed_command_runs() -> None:
    """What `--help` lists (from its cache) and what can be run are the same commands."""
    import typer.main

    from gateway.interfaces import cli

    group = typer.main.get_command(cli.app)
    ctx = group.make_context("gateway", [], resilient_parsing=True)
    listed = group.list_commands(ctx)
    assert "serve" in listed
    missing = [name for name in listed if group.get_command(ctx, name) is None]
    assert not missing, f"listed but not runnable: {missing}"


def test_domain_errors_keep_off_the_reserved_exit_codes() -> None:
    """A script tells an infrastructure failure from a domain answer by the exit code alone."""
    from gateway.core import errors
    from gateway.operations import OPERATIONS

    assert OPERATIONS  # importing the table registers every domain error class
    core = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.DomainError)]
    core.remove(errors.DomainError)
    clashes = [
        f"{cls.__module__}.{cls.__name__}: exit {cls.exit_code}"
        for cls in _package_errors(errors.DomainError).values()
        if cls.exit_code in errors.RESERVED_EXIT_CODES and not issubclass(cls, tuple(core))
    ]
    assert not clashes, f"domain errors on exit codes reserved for core errors: {clashes}"


def test_every_core_error_says_what_to_do_instead() -> None:
    """Each code of the core has a hint of its own (a domain error without one inherits the base's)."""
    from gateway.core.errors import DomainError
    from gateway.operations import OPERATIONS

    assert OPERATIONS
    core = [c for c in _package_errors(DomainError).values() if c.__module__.split(".")[1] == "core"]
    assert core
    missing = [c.__name__ for c in core if "hint" not in vars(c) or not c.hint.strip()]
    assert not missing, f"core errors without a hint of their own: {missing}"


def test_serve_listens_and_registers_where_it_is_told(tmp_path: Path) -> None:
    """`serve --port N` serves on N and registers N with the registry (not the default port)."""
    records: queue.Queue[dict[str, Any]] = queue.Queue()

    class Registry(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            records.put(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self._answer(201)

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self._answer(200)

        def do_DELETE(self) -> None:
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_REGISTRY_URL": f"http://127.0.0.1:{registry.server_address[1]}",
    }
    server = subprocess.Popen(
        [CLI_PROGRAM, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        record = records.get(timeout=60)
        assert record["interfaces"]["rest"] == f"http://127.0.0.1:{port}", record
        assert f"-{port}-" in record["instance_id"], record  # host-port-<per-process suffix>
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        registry.shutdown()
