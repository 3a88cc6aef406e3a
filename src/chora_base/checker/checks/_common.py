"""Helpers shared by the behaviour checks: reading probe sections, matching routes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from chora_base.checker._probe import route_matches
from chora_base.checker.probe import Probe

#: CLI commands that run the server rather than an operation.
INFRA_COMMANDS = frozenset({"serve", "mcp", "version", "operations"})
#: REST paths that are plumbing rather than operations.
INFRA_PATHS = frozenset(
    {
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/mcp",
        "/v1/metrics",
        # The long-running operations' resource (interface design, ID012).
        "/operations",
        "/operations/{operation_id}",
        "/operations/{operation_id}:cancel",
    }
)


def operations(probe: Probe) -> list[dict[str, Any]]:
    items = probe.section("operations").get("items", [])
    return items if isinstance(items, list) else []


def probe_problem(probe: Probe) -> str | None:
    """A fix-it message when the project could not be imported at all, else None."""
    fatal = probe.fatal
    if fatal is None:
        return None
    return (
        f"{fatal}\n\nThe behaviour checks import the project with `{probe.python}`. "
        "Install it there (`uv venv && uv pip install -e '.[dev]'`) or pass "
        "`--python <path>`."
    )


def http_exchange(probe: Probe, name: str) -> dict[str, Any] | str:
    """One HTTP exchange the probe recorded (e.g. "health"), or why there is none."""
    rest = probe.section("rest")
    if not rest.get("ok"):
        return f"the REST app could not be built: {rest.get('error')}"
    http = probe.section("http")
    value = http.get(name)
    if not isinstance(value, dict):
        return f"the app could not serve requests: {http.get('error', 'no response recorded')}"
    return value


def route_for(op: dict[str, Any], routes: list[dict[str, Any]]) -> dict[str, Any] | None:
    for route in routes:
        if route.get("kind") != "route":
            continue
        if any(route_matches(op["method"], op["path"], m, route["path"]) for m in route.get("methods", [])):
            return route
    return None


def cli_command(op_name: str) -> str:
    return op_name.replace("_", "-")


F = TypeVar("F", bound=Callable[..., str])


def needs_probe(check: F) -> F:
    """Report an unusable probe as this check's failure instead of checking empty data.

    ``requires = {"MI001"}`` normally skips these checks when the import fails; this
    covers MI001 being deselected or ignored. ``functools.wraps`` keeps the signature
    that repo-review reads to pass fixtures.
    """

    @functools.wraps(check)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> str:
        probe = kwargs.get("chora_probe")
        problem = probe_problem(probe) if isinstance(probe, Probe) else None
        return problem if problem else check(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
