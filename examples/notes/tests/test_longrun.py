"""Long-running operations on every interface: started, progress observed, cancelled; and a
server killed with -9 mid-operation reads `failed` (interrupted) once started again.
Yours, like tests/test_domain.py: created once, never rewritten by an update. It drives the
example's long-running operation (export_notes) with the example's notes; rewrite it for your
own long-running operations, or delete it if you have none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from drivers import CLI_PROGRAM, TOKEN, free_port

from notes import OPERATIONS, Service
from notes.core.longrun import OperationCancelled
from notes.core.settings import ENV_PREFIX, Settings
from notes.interfaces.rest import API_PREFIX

LONG = [op for op in OPERATIONS if op.long_running]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLOW = {"pause_ms": 1000}  # slow enough to be cancelled between two notes, even on a loaded machine


@pytest.fixture
def busy(settings: Settings) -> Settings:
    """A store holding enough notes for the example's export to take a few seconds."""
    service = Service.from_settings(settings)
    for n in range(6):
        service.create_note(slug=f"note-{n}", title=f"Note {n}")
    return settings


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir), f"{ENV_PREFIX}API_TOKEN": TOKEN}


def _follow(http: httpx.Client, location: str, status: dict[str, Any], until: Any) -> dict[str, Any]:
    """Long-poll the operation until ``until(status)`` holds (or it is done)."""
    while not until(status) and not status["done"]:
        answer = http.get(location, params={"revision": status["revision"], "wait_seconds": 10})
        assert answer.status_code == 200, answer.text
        status = answer.json()
    return status


def test_rest_progress_cancel_and_listing(busy: Settings, server_url: str) -> None:
    op = LONG[0]
    with httpx.Client(base_url=server_url, headers=AUTH, timeout=30) as http:
        started = http.post(API_PREFIX + op.path, json=SLOW)
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location == f"{API_PREFIX}/operations/{started.json()['id']}"
        running = _follow(http, location, started.json(), lambda s: s["progress"] > 0)
        assert running["state"] == "running" and running["message"]
        cancelled = http.post(location + ":cancel")
        assert cancelled.status_code == 200, cancelled.text
        final = _follow(http, location, cancelled.json(), lambda s: False)
        assert (final["state"], final["problem"]["code"]) == ("cancelled", "cancelled")
        assert final["progress"] < 1

        finished = http.post(API_PREFIX + op.path, json={})
        done = _follow(http, finished.headers["location"], finished.json(), lambda s: False)
        assert done["state"] == "succeeded" and done["result"] is not None

        page = http.get(API_PREFIX + "/operations", params={"limit": 1}).json()
        assert [item["id"] for item in page["items"]] == [done["id"]] and page["next_cursor"]
        rest = http.get(API_PREFIX + "/operations", params={"limit": 1, "cursor": page["next_cursor"]}).json()
        assert [item["id"] for item in rest["items"]] == [final["id"]]


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "code"),
    [
        ("GET", "/operations/nope", {}, 404, "operation_not_found"),
        ("POST", "/operations/nope:cancel", {}, 404, "operation_not_found"),
        ("GET", "/operations", {"limit": 101}, 422, "validation_error"),
        ("GET", "/operations", {"cursor": "junk"}, 422, "validation_error"),
        ("GET", "/operations/nope", {"wait_seconds": 31}, 422, "validation_error"),
    ],
)
def test_rest_operation_errors(
    server_url: str, method: str, path: str, params: dict[str, Any], status: int, code: str
) -> None:
    answer = httpx.request(method, server_url + API_PREFIX + path, params=params, headers=AUTH)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["content-type"] == "application/problem+json"


def test_running_operations_are_bounded_per_server(busy: Settings) -> None:
    from drivers import running_server

    op = LONG[0]
    bounded = busy.model_copy(update={"operations_max_running": 1})
    with running_server(bounded) as url, httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        first = http.post(API_PREFIX + op.path, json=SLOW)
        assert first.status_code == 202, first.text
        refused = http.post(API_PREFIX + op.path, json=SLOW)
        assert (refused.status_code, refused.json()["code"]) == (503, "too_many_operations")
        assert refused.json()["retryable"] is True
        http.post(first.headers["location"] + ":cancel")


def test_client_handle_progress_and_cancel(busy: Settings, server_url: str) -> None:
    from notes.interfaces.client import Client

    op = LONG[0]
    seen: list[float] = []
    with Client(server_url, token=TOKEN) as client:
        handle = getattr(client, op.name)(**SLOW)
        while handle.progress == 0:
            handle.refresh(wait_seconds=10)
        seen.append(handle.progress)
        handle.cancel()
        with pytest.raises(OperationCancelled):
            handle.wait(timeout=60, on_progress=lambda s: seen.append(s.progress))
        assert client.operation(handle.id).status.state == "cancelled"
        result = getattr(client, op.name)().wait(timeout=60, on_progress=lambda s: seen.append(s.progress))
        assert result.model_dump() and seen[0] > 0 and seen[-1] == 1.0


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "remote"])
def test_cli_progress_lines_and_ctrl_c(busy: Settings, remote: bool, request: pytest.FixtureRequest) -> None:
    """Without --url the CLI runs it here, with --url the server does: either way one progress
    line per step on stderr, and Ctrl-C cancels the operation (the server's, when remote)."""
    op = LONG[0]
    url = ["--url", request.getfixturevalue("server_url")] if remote else []
    proc = subprocess.Popen(
        [CLI_PROGRAM, op.cli_name, "--pause-ms", "1000", "--json", *url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(busy),
    )
    assert proc.stderr is not None
    lines = []
    while not any("%" in line and not line.rstrip().endswith(" 0%") for line in lines):
        line = proc.stderr.readline()
        assert line, f"no progress line before the CLI ended: {lines}"
        lines.append(line)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == OperationCancelled.exit_code, (out, err)
    assert json.loads(out.strip().splitlines()[-1])["code"] == "cancelled"
    assert "Traceback" not in err
    listed = subprocess.run(
        [CLI_PROGRAM, "operations", "list", "--limit", "1", "--json"], capture_output=True, text=True, env=_env(busy)
    )
    assert json.loads(listed.stdout)["items"][0]["state"] == "cancelled", listed.stdout + listed.stderr


def test_cli_remote_no_wait_then_cancel_and_wait(busy: Settings, server_url: str) -> None:
    op = LONG[0]
    env = _env(busy)
    # Two CLI processes start before the cancel lands: a long pause keeps it running till then.
    run = [CLI_PROGRAM, op.cli_name, "--pause-ms", "5000", "--url", server_url, "--no-wait"]
    started = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert started.returncode == 0, started.stderr
    op_id = started.stdout.strip()
    cancel = [CLI_PROGRAM, "operations", "cancel", op_id, "--url", server_url, "--json"]
    assert subprocess.run(cancel, capture_output=True, text=True, env=env, timeout=60).returncode == 0
    wait = subprocess.run(
        [CLI_PROGRAM, "operations", "wait", op_id, "--url", server_url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert wait.returncode == OperationCancelled.exit_code, wait.stdout + wait.stderr
    assert json.loads(wait.stdout)["code"] == "cancelled"
    get = [CLI_PROGRAM, "operations", "get", "nope", "--url", server_url, "--json"]
    missing = subprocess.run(get, capture_output=True, text=True, env=env)
    assert json.loads(missing.stdout)["code"] == "operation_not_found" and "Traceback" not in missing.stderr
    local = subprocess.run([CLI_PROGRAM, op.cli_name, "--no-wait", "--json"], capture_output=True, text=True, env=env)
    assert json.loads(local.stdout)["code"] == "validation_error"


def test_mcp_progress_notifications_and_cancel(busy: Settings) -> None:
    import anyio
    from mcp import Client

    from notes.core.runner import open_runner
    from notes.interfaces.mcp import create_mcp_server

    op = LONG[0]
    runner = open_runner(busy)

    async def main() -> None:
        server = create_mcp_server(Service.from_settings(busy), busy, runner)
        async with Client(server) as client:
            reports: list[tuple[float, str | None]] = []

            async def progress(value: float, total: float | None, message: str | None) -> None:
                reports.append((value, message))

            done = await client.call_tool(op.name, {}, progress_callback=progress)
            assert not done.is_error and reports and reports[-1][0] == 1.0

            first = anyio.Event()

            async def on_first(value: float, total: float | None, message: str | None) -> None:
                first.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.call_tool(op.name, SLOW, progress_callback=on_first))
                await first.wait()
                tg.cancel_scope.cancel()  # the client gives up on the call: the server cancels the operation
            newest = runner.store.page(1, None).items[0]
            while not newest.done:
                newest = await runner.watch(newest.id, newest.revision, 10)
            assert newest.state == "cancelled"

    anyio.run(main)


def test_mcp_over_http_streams_progress(busy: Settings, server_url: str) -> None:
    """A tools/call carrying a progressToken is answered as an SSE stream with the notifications."""
    import anyio
    from drivers import _http_transport
    from mcp import Client

    op = LONG[0]

    async def main() -> list[float]:
        reports: list[float] = []

        async def progress(value: float, total: float | None, message: str | None) -> None:
            reports.append(value)

        async with Client(_http_transport(server_url + "/mcp", AUTH)) as client:
            result = await client.call_tool(op.name, {"pause_ms": 1}, progress_callback=progress)
            assert not result.is_error, result
        return reports

    reports = anyio.run(main)
    assert reports and reports[-1] == 1.0


@pytest.fixture
def serve(busy: Settings) -> Iterator[Any]:
    """Start `serve` as a real process on a free port; yields a function that (re)starts it."""
    procs: list[subprocess.Popen[str]] = []
    port = free_port()

    def start() -> tuple[str, subprocess.Popen[str]]:
        proc = subprocess.Popen(
            [CLI_PROGRAM, "serve", "--port", str(port)], env=_env(busy), stderr=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stderr is not None
        while "serving on" not in (line := proc.stderr.readline()):
            assert line, "the server stopped before serving"
        url = f"http://127.0.0.1:{port}"
        while True:  # the log line comes just before uvicorn accepts connections
            try:
                httpx.get(url + "/health")
                return url, proc
            except httpx.TransportError:
                continue

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_server_killed_mid_operation_reads_interrupted(serve: Any) -> None:
    op = LONG[0]
    url, server = serve()
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        started = http.post(API_PREFIX + op.path, json=SLOW)
        location = started.headers["location"]
        assert _follow(http, location, started.json(), lambda s: s["progress"] > 0)["state"] == "running"
    os.kill(server.pid, signal.SIGKILL)  # no shutdown code runs: the record still reads running
    server.wait()
    url, _ = serve()
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        after = http.get(location).json()
    assert (after["state"], after["done"], after["problem"]["code"]) == ("failed", True, "interrupted")


def test_a_record_left_by_an_earlier_process_with_this_pid_reads_interrupted(settings: Settings) -> None:
    """A restarted container's server often gets its predecessor's pid: the pid alone is no proof."""
    from notes.core import operation_store
    from notes.core.runner import open_store

    store = open_store(settings)
    left = store.create(LONG[0].name)
    with operation_store.transaction(store._conn(), write=True) as conn:
        conn.execute("UPDATE operations SET owner = 'an-earlier-process' WHERE id = ?", (left.id,))
    after = open_store(settings).get(left.id)
    assert (after.state, after.problem and after.problem["code"]) == ("failed", "interrupted")
    assert store.get(store.create(LONG[0].name).id).state == "running"  # this process's own is alive
