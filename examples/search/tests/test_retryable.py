"""Every error says whether trying again later may succeed (`retryable`), the same on every
interface: the native exception, REST's problem+json, the CLI's `--json` error, MCP's error
result and the remote client's exception. Template-owned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from drivers import TOKEN, cli_args, running_server
from typer.testing import CliRunner

from search import OPERATIONS
from search.core import errors
from search.core.settings import ENV_PREFIX, get_settings
from search.interfaces import cli
from search.interfaces.rest import API_PREFIX

#: (error class, retryable): transient faults yes; a wrong call or a domain answer no. A new
#: error class is one more row.
CORE: list[tuple[type[errors.DomainError], bool]] = [
    (errors.Unavailable, True),
    (errors.StoreUnavailable, True),
    (errors.Timeout, True),
    (errors.ValidationFailed, False),
    (errors.UnknownOperation, False),
    (errors.Unauthorized, False),
    (errors.InternalError, False),
]
#: The domain's own errors decide for themselves (a not-found is an answer, a lost race may be
#: worth repeating); what is checked is that every interface says what the class says.
DOMAIN = sorted({e for op in OPERATIONS for e in op.errors} - {cls for cls, _ in CORE}, key=lambda e: e.code)
ROWS = [*CORE, *[(error, error.retryable) for error in DOMAIN]]
LISTING = next(op for op in OPERATIONS if op.read_only and not op.path_params)


@contextmanager
def raising(error: errors.DomainError) -> Iterator[None]:
    """The listing operation raises ``error`` on every interface, in this process."""
    original = LISTING.handler
    _ = LISTING.input_model  # built from the real signature before the handler is swapped

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    fail.__name__ = original.__name__
    object.__setattr__(LISTING, "handler", fail)
    try:
        yield
    finally:
        object.__setattr__(LISTING, "handler", original)


@pytest.mark.parametrize(("error_cls", "retryable"), ROWS, ids=[cls.code for cls, _ in ROWS])
def test_every_interface_says_whether_to_retry(error_cls: Any, retryable: bool, settings: Any) -> None:
    assert error_cls("x").retryable is retryable  # the native exception
    with raising(error_cls("x")), running_server(settings) as url:
        rest = httpx.get(url + API_PREFIX + LISTING.path, headers={"Authorization": f"Bearer {TOKEN}"}).json()
        get_settings.cache_clear()
        env = {f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir)}
        result = CliRunner().invoke(cli.app, cli_args(LISTING, {}), env=env)
        get_settings.cache_clear()
        cli_problem = json.loads(result.stdout.strip().splitlines()[-1])
        seen = {"rest": rest["retryable"], "cli --json": cli_problem["retryable"]}
        from anyio.from_thread import start_blocking_portal
        from drivers import McpDriver

        from search.domain.service import Service
        from search.interfaces.client import Client
        from search.interfaces.mcp import create_mcp_server

        with start_blocking_portal() as portal:
            mcp = McpDriver(create_mcp_server(Service.from_settings(settings), settings), portal)
            try:
                answer = portal.call(mcp.client.call_tool, LISTING.name, {})
            finally:
                mcp.close()
        seen["mcp"] = answer.structured_content["retryable"]
        with Client(url, token=TOKEN) as client, pytest.raises(errors.DomainError) as raised:
            client.call(LISTING.name, {})
        seen["client"] = raised.value.retryable
    assert rest["code"] == cli_problem["code"] == error_cls.code
    assert seen == dict.fromkeys(seen, retryable), seen
