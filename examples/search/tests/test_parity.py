"""Every operation of the table, through every interface of this tier, gives the same result
(or the same error code) as the native API. Template-owned: generic over the operation table."""

from __future__ import annotations

from typing import Any

import pytest
from drivers import (
    CliDriver,
    ClientDriver,
    CliProcessDriver,
    McpDriver,
    NativeDriver,
    RestDriver,
    expected_codes,
    replay,
)

from search import OPERATIONS

INTERFACES = ["cli", "rest", "mcp", "client"]


def test_every_operation_has_examples() -> None:
    missing = [op.name for op in OPERATIONS if not any(ex.error is None for ex in op.examples)]
    assert not missing, f"operations without a succeeding example: {missing}"


def test_native_api_meets_the_declared_examples(settings: Any) -> None:
    outcomes = replay(NativeDriver(settings))
    for (kind, value), code in zip(outcomes, expected_codes(), strict=True):
        assert (kind, value if kind == "error" else None) == (("error", code) if code else ("ok", None))
        assert kind == "ok" or value.hint, f"{code}: a problem without a hint"


def _hints(outcomes: list[Any]) -> list[str | None]:
    """The hint of each error but validation errors' (which name fields each interface spells its own way)."""
    return [value.hint for kind, value in outcomes if kind == "error" and value != "validation_error"]


@pytest.mark.parametrize("interface", INTERFACES)
def test_interface_matches_native(interface: str, settings: Any, tmp_path: Any) -> None:
    native = replay(NativeDriver(settings.model_copy(update={"data_dir": tmp_path / "native"})))
    if interface == "cli":
        got = replay(CliDriver(settings))
    elif interface == "rest":
        with _server(settings) as url:
            got = replay(RestDriver(url))
    elif interface == "client":
        with _server(settings) as url:
            got = replay(ClientDriver(url))
    else:
        from anyio.from_thread import start_blocking_portal

        from search.domain.service import Service
        from search.interfaces.mcp import create_mcp_server

        with start_blocking_portal() as portal:
            driver = McpDriver(create_mcp_server(Service.from_settings(settings), settings), portal)
            try:
                got = replay(driver)
            finally:
                driver.close()
    assert got == native
    assert _hints(got) == _hints(native)  # the fix hint reaches the caller unchanged on every interface


def test_cli_as_a_process_matches_native(settings: Any, tmp_path: Any) -> None:
    """One full replay through the installed console script, as a user would run it."""
    native = replay(NativeDriver(settings.model_copy(update={"data_dir": tmp_path / "native"})))
    got = replay(CliProcessDriver(settings))
    assert got == native and _hints(got) == _hints(native)


def _server(settings: Any) -> Any:
    from drivers import running_server

    return running_server(settings)
