"""The gateway over real processes on loopback: registry, servers rendered from the template,
and the gateway example, spoken to with the official MCP SDK client."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.gateway.harness import World, client
from tests.registry.harness import wait_for

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
WAIT = 30.0  # generous bound for a condition; the TTL + 1 s figure is measured in bench/


def run(coro: Any) -> Any:
    return anyio.run(coro)


def listed(world: World) -> set[str]:
    async def go() -> set[str]:
        async with client(world.mcp_url) as session:
            return {t.name for t in (await session.list_tools()).tools}

    return run(go)


def servers_listed(world: World) -> set[str]:
    return {name.split("_", 1)[0] for name in listed(world) if "_" in name} - {"ecosystem", "server", "refresh"}


def call(world: World, name: str, arguments: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with client(world.mcp_url) as session:
            return await session.call_tool(name, arguments)

    return run(go)


def test_tools_of_all_three_servers_are_listed_under_valid_stable_names(world: World) -> None:
    wait_for(lambda: servers_listed(world) >= {"alpha", "beta", "gamma"}, WAIT)
    names = listed(world)
    assert {"alpha_create_note", "beta_get_note", "gamma_list_notes"} <= names
    assert all(NAME.match(n) for n in names)
    health = {s["name"]: s for s in world.health()["servers"]}
    alpha_tools = {n for n in names if n.startswith("alpha_")}
    assert health["alpha"]["status"] == "up" and health["alpha"]["tool_count"] == len(alpha_tools) > 0
    assert health["alpha"]["version"]


def test_a_call_is_forwarded_faithfully_and_a_domain_error_keeps_its_problem(world: World) -> None:
    wait_for(lambda: "alpha_create_note" in listed(world), WAIT)
    created = call(world, "alpha_create_note", {"slug": "hello", "title": "Hello"})
    assert not created.is_error and created.structured_content["slug"] == "hello"
    again = call(world, "alpha_create_note", {"slug": "hello", "title": "Hello"})
    assert again.is_error and again.structured_content["code"] == "note_already_exists"


def test_a_new_server_is_listed_and_the_change_announced(world: World) -> None:
    async def go() -> set[str]:
        async with client(world.mcp_url) as session, session.listen(tools_list_changed=True) as sub:
            with anyio.fail_after(WAIT):
                await anyio.to_thread.run_sync(world.start_server, "delta")
                async for _event in sub:
                    names = {t.name for t in (await session.list_tools()).tools}
                    if "delta_get_note" in names:
                        return names
        return set()

    assert "delta_get_note" in run(go)


def test_a_server_killed_with_minus_9_leaves_the_list(world: World) -> None:
    wait_for(lambda: "gamma" in servers_listed(world), WAIT)
    proc, _port = world.servers["gamma"][0]
    proc.kill9()
    wait_for(lambda: "gamma" not in servers_listed(world), WAIT)
    health = {s["name"]: s for s in world.health()["servers"]}
    assert health.get("gamma", {"up_instances": 0})["up_instances"] == 0


def test_a_hung_server_slows_nothing_else_and_its_calls_are_unavailable(world: World) -> None:
    wait_for(lambda: {"alpha", "beta"} <= servers_listed(world), WAIT)
    proc, _port = world.servers["beta"][0]
    assert proc.popen is not None
    proc.popen.send_signal(signal.SIGSTOP)  # a real hang: it accepts connections, answers nothing
    try:

        async def go() -> tuple[Any, Any, set[str]]:
            async with client(world.mcp_url) as session:
                hung = await session.call_tool("beta_list_notes", {})
                other = await session.call_tool("alpha_list_notes", {})
                names = {t.name for t in (await session.list_tools()).tools}
                return hung, other, names

        hung, other, names = run(go)
        assert hung.is_error and hung.structured_content["code"] == "unavailable"
        assert hung.structured_content["server"] == "beta"
        assert not other.is_error and "alpha_list_notes" in names
    finally:
        proc.popen.send_signal(signal.SIGCONT)


def test_calls_fail_over_when_one_of_two_instances_is_killed(world: World) -> None:
    second, _port = world.start_server("alpha")
    wait_for(lambda: {s["name"]: s for s in world.health()["servers"]}["alpha"]["up_instances"] >= 2, WAIT)
    first, _ = world.servers["alpha"][0]
    first.kill9()

    async def go() -> list[bool]:
        async with client(world.mcp_url) as session:
            return [(await session.call_tool("alpha_list_notes", {})).is_error for _ in range(6)]

    assert run(go) == [False] * 6
    assert second.alive


def _repair(value: str, hint: str) -> str:
    """What an agent makes of a value its hint says must match a pattern: the nearest text that does."""
    pattern = re.search(r"pattern '([^']+)'", hint)
    assert pattern, hint  # the hint names the rule to meet
    words = re.findall(r"[a-z0-9]+", value.lower())
    for candidate in ("-".join(words), "".join(words), "_".join(words)):
        if re.fullmatch(pattern.group(1), candidate):
            return candidate
    raise AssertionError(f"no repair of {value!r} meets {pattern.group(1)!r}")


def test_an_agent_that_knows_no_server_recovers_from_domain_errors_by_code_and_hint(world: World) -> None:
    """Lists tools, picks one by its description, calls it, and recovers from each error using
    only what the error says: its code and its hint (the field to fix and how, the tool to use)."""
    wait_for(lambda: any(n.endswith("_create_note") for n in listed(world)), WAIT)

    async def agent() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        async with client(world.mcp_url) as session:
            tools = (await session.list_tools()).tools
            tool = next(t for t in tools if (t.description or "").startswith("Create a note"))
            server = (tool.meta or {}).get("io.chora/server")

            def named_in(hint: str) -> Any:
                """A tool of the same server that the hint tells the agent to use instead."""
                wanted = set(re.findall(r"`([a-z_]+)`", hint))
                return next(
                    t
                    for t in tools
                    if (t.meta or {}).get("io.chora/server") == server and (t.meta or {}).get("io.chora/tool") in wanted
                )

            arguments = {"slug": "Shopping List", "title": "Shopping"}
            result = await session.call_tool(tool.name, arguments)
            while result.is_error:
                problem = result.structured_content
                code, hint = problem["code"], problem["hint"]
                seen.append((code, hint))
                assert len(seen) <= 3, seen
                if code == "validation_error":  # the hint names the field and the rule it breaks
                    field = re.search(r"`(\w+)`", hint)
                    assert field, hint
                    arguments[field.group(1)] = _repair(arguments[field.group(1)], hint)
                    result = await session.call_tool(tool.name, arguments)
                elif code == "note_already_exists":  # the hint names the tool that changes an existing one
                    tool = named_in(hint)
                    result = await session.call_tool(tool.name, arguments)
                else:
                    raise AssertionError(f"an error the agent cannot recover from: {problem}")
                if not result.is_error and arguments["title"] == "Shopping":
                    # the note exists now; the agent next wants it retitled, and tries to create it again
                    arguments["title"] = "Shopping for Sunday"
                    result = await session.call_tool(tool.name, arguments)
            assert result.structured_content["slug"] == "shopping-list"
            assert result.structured_content["title"] == "Shopping for Sunday"
            assert (tool.meta or {}).get("io.chora/tool") == "update_note"
        return seen

    seen = run(agent)
    assert [code for code, _ in seen] == ["validation_error", "note_already_exists"]
    assert "`slug`" in seen[0][1]  # an instance's own hint: the field to correct
    # the backend's hint, passed on by the gateway unchanged
    assert seen[1][1] == "Choose another slug, or change the existing note with `update_note`."


def test_a_client_without_the_gateway_token_is_refused(world: World) -> None:
    async def go() -> None:
        async with client(world.mcp_url, token="wrong") as session:
            await session.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own transport error on 401
        run(go)


def test_filters_expose_only_the_chosen_servers(world: World, tmp_path: Path) -> None:
    import httpx

    from tests.registry.harness import Proc, free_port

    assert world.gateway is not None
    port = free_port()
    env = {**world.gateway.env, "GATEWAY_PORT": str(port), "GATEWAY_DATA_DIR": str(tmp_path)}
    env["GATEWAY_EXPOSE_SERVERS"] = "alpha"
    proc = Proc([str(world.bin / "gateway"), "serve"], env, tmp_path / "filtered.log")
    filtered = World(root=tmp_path, bin=world.bin, registry=world.registry, gateway_port=port)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200, WAIT)
        wait_for(lambda: "alpha" in servers_listed(filtered), WAIT)
        assert servers_listed(filtered) == {"alpha"}
        assert servers_listed(world) > {"alpha"}  # the unfiltered gateway still lists others
    finally:
        proc.terminate()
