"""apply as a long-running operation, on a real stack: REST answers 202 and an operation whose
progress names each server as it comes up; a cancel in the middle stops what that run started
and leaves the rest; the CLI shows progress and Ctrl-C cancels; MCP sends progress
notifications. The tests run in order on one world (the registry and one rendered server)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.bootstrap.harness import World, alive, build_world, listening, stack_text, wait_for

TOKEN = "orchestrator-longrun-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(tmp_path_factory.mktemp("longrun"), ("alpha",))
    world.write_stack("stack.yaml", stack_text(world, name="lr"))
    # `stuck` never passes /ready (its Host guard refuses loopback): apply waits on it until cancelled
    stuck = f"  stuck:\n    source: {world.sources['alpha']}\n    settings:\n      allowed_hosts: example.invalid\n"
    world.write_stack("stuck.yaml", stack_text(world, name="lr", extra=stuck))
    yield world
    world.run("reset", "--stack-file", "stack.yaml")


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    """`orchestrator serve`: REST and MCP over HTTP, on a port of its own."""
    from tests.registry.harness import free_port

    port = free_port()
    env = {**world.env(), "ORCHESTRATOR_PORT": str(port), "ORCHESTRATOR_API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [str(world.cli), "serve"], env=env, cwd=world.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: listening(port), 120)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _follow(
    http: httpx.Client, location: str, status: dict[str, Any], until: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], list[str]]:
    """Long-poll the operation until ``until(status)`` or done; return it and every message seen."""
    messages = [status["message"]]
    while not until(status) and not status["done"]:
        answer = http.get(location, params={"revision": status["revision"], "wait_seconds": 10})
        assert answer.status_code == 200, answer.text
        status = answer.json()
        messages.append(status["message"])
    return status, messages


def test_rest_apply_is_an_operation_with_progress_per_server(world: World, server: str) -> None:
    with httpx.Client(base_url=server, headers=AUTH, timeout=30) as http:
        started = http.post("/v1/stack/apply", json={"stack_file": str(world.root / "stack.yaml")})
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location == f"/v1/operations/{started.json()['id']}"
        final, messages = _follow(http, location, started.json(), lambda s: False)
    assert final["state"] == "succeeded", final
    assert final["progress"] == 1.0
    report = final["result"]
    assert report["changed"] is True and {s["action"] for s in report["steps"]} == {"install", "start"}
    # a long poll returns the latest state: some steps may be passed over, never all of them
    named = {m for m in messages if m.startswith(("installed ", "starting ")) or m.endswith("up (start)")}
    assert len(named) >= 2 and any("registry" in m for m in named), messages
    assert messages[-1] == "applied: 2 install, 2 start", messages
    parts = {(t["server"], t["part"]) for t in report["timings"]}
    assert {("registry", "install"), ("registry", "start"), ("alpha", "register")} <= parts, parts
    rows = {r["server"]: r for r in world.run("status", "--stack-file", "stack.yaml")[1]["servers"]}
    assert (rows["alpha"]["health"], rows["alpha"]["registry"]) == ("ready", "up")


def test_cancel_mid_apply_stops_what_that_run_started(world: World, server: str) -> None:
    before = {n: r["pid"] for n, r in world.state("lr").items()}
    with httpx.Client(base_url=server, headers=AUTH, timeout=30) as http:
        started = http.post("/v1/stack/apply", json={"stack_file": str(world.root / "stuck.yaml")})
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        waiting, _ = _follow(http, location, started.json(), lambda s: s["message"] == "starting stuck")
        assert not waiting["done"], waiting
        stuck_pid = wait_for(lambda: world.state("lr").get("stuck", {}).get("pid"), 60)
        assert alive(stuck_pid)
        cancelled = http.post(location + ":cancel")
        assert cancelled.status_code == 200, cancelled.text
        final, _ = _follow(http, location, cancelled.json(), lambda s: False)
    assert (final["state"], final["problem"]["code"]) == ("cancelled", "cancelled"), final
    assert final["progress"] < 1
    wait_for(lambda: not alive(stuck_pid), 30)
    state = world.state("lr")
    assert state["stuck"]["pid"] is None
    assert {n: state[n]["pid"] for n in before} == before, "what was up before the run is untouched"
    assert all(alive(pid) for pid in before.values())


def test_cli_shows_progress_and_ctrl_c_cancels(world: World) -> None:
    before = {n: r["pid"] for n, r in world.state("lr").items() if n != "stuck"}
    proc = world.popen("apply", "--stack-file", "stuck.yaml")
    assert proc.stderr is not None
    lines: list[str] = []
    while not lines or "starting stuck" not in lines[-1]:
        line = proc.stderr.readline()
        assert line, f"the CLI ended before starting stuck: {lines}"
        lines.append(line.strip())
    assert all(line.startswith("apply: ") and "%" in line for line in lines), lines
    stuck_pid = wait_for(lambda: world.state("lr").get("stuck", {}).get("pid"), 60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 9, (out, err)  # cancelled
    assert json.loads(out.strip().splitlines()[-1])["code"] == "cancelled"
    assert "Traceback" not in err
    wait_for(lambda: not alive(stuck_pid), 30)
    assert {n: r["pid"] for n, r in world.state("lr").items() if n != "stuck"} == before

    # without the stuck server, apply is converged and says so, still with its progress lines
    code, report = world.run("apply", "--stack-file", "stack.yaml")
    assert code == 0 and report["changed"] is False, report


def test_mcp_apply_sends_progress_notifications(world: World, server: str) -> None:
    import anyio
    import httpx2  # the MCP SDK's HTTP client
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    seen: list[tuple[float, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, message))

    async def call() -> Any:
        transport = streamable_http_client(f"{server}/mcp", http_client=httpx2.AsyncClient(headers=AUTH, timeout=60))
        async with Client(transport) as session:
            arguments = {"stack_file": str(world.root / "stack.yaml")}
            return await session.call_tool("apply", arguments, progress_callback=progress)

    result = anyio.run(call)
    assert not result.is_error, result
    assert result.structured_content["changed"] is False
    assert seen and seen[-1] == (1.0, "converged: nothing started or stopped"), seen
