"""A user journey across interfaces sharing one store: each example of the table runs through
the next interface in turn (CLI process, REST, MCP over HTTP, remote client, native API), and
the sequence must end exactly as it does on the native API alone. Template-owned."""

from __future__ import annotations

from itertools import cycle
from typing import Any

from drivers import (
    ClientDriver,
    CliProcessDriver,
    McpDriver,
    NativeDriver,
    RestDriver,
    replay,
    stable,
)

from notes import OPERATIONS


def test_journey_mixes_interfaces_on_one_store(settings: Any, server_url: str, tmp_path: Any) -> None:
    expected = replay(NativeDriver(settings.model_copy(update={"data_dir": tmp_path / "native"})))
    drivers: list[Any] = [CliProcessDriver(settings), RestDriver(server_url)]
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        mcp = McpDriver(server_url + "/mcp", portal)
        drivers += [mcp, ClientDriver(server_url), NativeDriver(settings)]
        try:
            got = _run(drivers)
        finally:
            mcp.close()
    assert got == expected


def _run(drivers: list[Any]) -> list[Any]:
    turn = cycle(drivers)
    return [stable(next(turn).call(op.name, dict(ex.input))) for op in OPERATIONS for ex in op.examples]
