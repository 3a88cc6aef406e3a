"""The gateway's domain without a network: names, filters, credentials, breakers, health."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.core.errors import DomainError
from gateway.domain.backends import Breaker
from gateway.domain.config import GatewaySettings
from gateway.domain.federation import Federation
from gateway.domain.naming import NAME_PATTERN, public_name
from gateway.domain.service import Service
from gateway.operations import OPERATIONS


@pytest.mark.parametrize(
    ("server", "tool", "expected"),
    [
        ("notes", "get_note", "notes_get_note"),
        ("notes-server", "list_notes", "notes-server_list_notes"),
        ("a-b", "c_d", "a-b_c_d"),
    ],
)
def test_plain_names_are_server_underscore_tool(server: str, tool: str, expected: str) -> None:
    assert public_name(server, tool) == expected


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a_b", "c"), ("a", "b_c")),  # `_` in a server name would make the split ambiguous
        (("my.server", "x"), ("my-server", "x")),  # characters replaced by `-`
        (("s", "do it"), ("s", "do-it")),
    ],
)
def test_pairs_that_would_read_alike_get_distinct_valid_names(first: tuple[str, str], second: tuple[str, str]) -> None:
    a, b = public_name(*first), public_name(*second)
    assert a != b and NAME_PATTERN.match(a) and NAME_PATTERN.match(b)


def test_long_names_are_shortened_deterministically_and_stay_distinct() -> None:
    a = public_name("s" * 60, "tool_one")
    b = public_name("s" * 60, "tool_two")
    assert a != b and len(a) == len(b) == 64
    assert NAME_PATTERN.match(a) and NAME_PATTERN.match(b)
    assert public_name("s" * 60, "tool_one") == a  # the same in any process, at any time


def test_filters_and_credentials_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_EXPOSE_SERVERS", "alpha, beta")
    monkeypatch.setenv("GATEWAY_EXPOSE_TAGS", "public")
    monkeypatch.setenv("GATEWAY_BACKEND_TOKENS", "alpha=tok-a,beta=tok-b")
    monkeypatch.setenv("GATEWAY_BACKEND_TOKEN", "shared")
    settings = GatewaySettings()
    assert settings.exposes("alpha", ["public"]) and not settings.exposes("alpha", ["internal"])
    assert not settings.exposes("gamma", ["public"])
    assert settings.token_for("alpha") == "tok-a" and settings.token_for("gamma") == "shared"


def test_a_breaker_opens_after_failures_in_a_row_and_closes_after_its_reset() -> None:
    breaker = Breaker()
    breaker.failed(0.0, limit=2, reset=5.0)
    assert breaker.allows(0.1)
    breaker.failed(0.2, limit=2, reset=5.0)
    assert not breaker.allows(1.0) and breaker.allows(5.3)
    breaker.succeeded()
    assert breaker.allows(0.0) and breaker.failures == 0


def _record(name: str, instance: str, status: str = "up", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "instance_id": instance,
        "status": status,
        "version": "1.0.0",
        "interfaces": {"mcp": f"http://127.0.0.1:9/{instance}/mcp"},
        "tags": [],
        **extra,
    }


def test_health_reports_every_registered_server_from_memory() -> None:
    service = Service(GatewaySettings(registry_url=None))
    (own,) = service.ecosystem_health().servers  # nothing registered: the gateway reports itself
    assert own.name == "gateway" and own.status == "up" and own.tool_count == len(OPERATIONS)

    async def apply() -> None:
        federation: Federation = service.dynamic_tools
        from gateway.domain.transport import Pool

        federation._http = Pool()
        await federation._apply(
            [_record("alpha", "a1"), _record("alpha", "a2", "unknown"), _record("beta", "b1", "down")]
        )
        for task in list(federation._tasks):
            task.cancel()
        federation._http.close()

    asyncio.run(apply())
    health = service.ecosystem_health()
    by_name = {s.name: s for s in health.servers}
    assert by_name["alpha"].status == "up" and by_name["alpha"].instances == 2 and by_name["alpha"].up_instances == 1
    assert by_name["beta"].status == "down" and by_name["beta"].tool_count == 0
    with pytest.raises(DomainError) as err:
        service.ecosystem_health(name="nobody")
    assert err.value.code == "server_not_found"
