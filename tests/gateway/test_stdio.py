"""The gateway over stdio, as an agent host runs it: the same federation, followed live."""

from __future__ import annotations

import os
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from tests.gateway.harness import BACKEND_TOKEN, World


def test_stdio_lists_the_federation_and_forwards_a_call(world: World, tmp_path: Any) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_REGISTRY_URL": world.registry.url,
        "GATEWAY_BACKEND_TOKEN": BACKEND_TOKEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(command=str(world.bin / "gateway"), args=["mcp"], env=env)

    async def session() -> tuple[str, Any]:
        async with Client(params) as client, client.listen(tools_list_changed=True) as sub:
            with anyio.fail_after(60):
                names = {t.name for t in (await client.list_tools()).tools}
                if not any(n.endswith("_list_notes") for n in names):
                    async for _event in sub:  # the first fetch of a server's tools is announced
                        names = {t.name for t in (await client.list_tools()).tools}
                        if any(n.endswith("_list_notes") for n in names):
                            break
            name = sorted(n for n in names if n.endswith("_list_notes"))[0]
            return name, await client.call_tool(name, {})

    name, result = anyio.run(session)
    assert not result.is_error, result.structured_content
    assert "items" in result.structured_content, name
