"""Progress of a backend's long-running tool, relayed by the gateway: a caller that passes a
progressToken receives the backend's notifications, in order, then the tool's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.gateway.harness import BACKEND_TOKEN, World, client
from tests.gateway.test_gateway import WAIT, listed
from tests.registry.harness import Proc, free_port, wait_for

SLUGS = [f"relay-{n}" for n in range(5)]
SERVER = "beta"  # the one server the other tests leave with a single live instance (alpha gains one, gamma dies)


def test_progress_of_a_long_running_tool_is_relayed_in_order_with_the_result(world: World, tmp_path: Path) -> None:
    # A gateway of its own: the shared one's call deadline (1 s) is meant for hung backends, and
    # a long-running tool is given a deadline that fits it.
    assert world.gateway is not None
    gateway_port = free_port()
    env = {**world.gateway.env, "GATEWAY_PORT": str(gateway_port), "GATEWAY_DATA_DIR": str(tmp_path)}
    env |= {"GATEWAY_CALL_TIMEOUT_SECONDS": "120", "GATEWAY_EXPOSE_SERVERS": SERVER}
    proc = Proc([str(world.bin / "gateway"), "serve"], env, tmp_path / "gateway.log")
    try:
        gateway = World(root=tmp_path, bin=world.bin, registry=world.registry, gateway_port=gateway_port)
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{gateway_port}/health", timeout=1).status_code == 200, WAIT)
        (backend, port), *others = world.servers[SERVER]
        assert backend.alive and not others  # one instance: the notes below are where the call goes
        _relayed(gateway, port)
    finally:
        proc.terminate()


def _relayed(world: World, port: int) -> None:
    wait_for(lambda: "beta_export_notes" in listed(world), WAIT)
    for slug in SLUGS:  # notes only this test tags, straight into the backend
        httpx.post(
            f"http://127.0.0.1:{port}/v1/notes",
            json={"slug": slug, "title": slug.title(), "tags": ["relay"]},
            headers={"Authorization": f"Bearer {BACKEND_TOKEN}"},
            timeout=10,
        ).raise_for_status()

    events: list[tuple[Any, ...]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append(("progress", progress, total, message))

    async def go() -> Any:
        async with client(world.mcp_url) as session:
            # Each note waits 200 ms, so the backend reports each step on its own.
            arguments = {"tag": "relay", "pause_ms": 200}
            result = await session.call_tool("beta_export_notes", arguments, progress_callback=on_progress)
            events.append(("result", result))
            return result

    result = anyio.run(go)
    assert not result.is_error, result
    assert result.structured_content["count"] == len(SLUGS)
    assert all(f"# {slug.title()}" in result.structured_content["markdown"] for slug in SLUGS)

    progress = [e for e in events if e[0] == "progress"]
    assert events[-1][0] == "result" and len(progress) >= 2, events  # notifications came, then the result
    messages = [e[3] for e in progress]
    expected = [f"exported {slug}" for slug in SLUGS]
    # In order: the backend's messages, none out of place (a step may be folded into the next
    # when the backend's status is read after two steps landed).
    assert [m for m in expected if m in messages] == messages, messages
    values = [e[1] for e in progress]
    assert values == sorted(values) and len(set(values)) == len(values) and values[0] > 0 and values[-1] <= 1.0
    assert {e[2] for e in progress} == {1.0}  # the backend's total, passed on
