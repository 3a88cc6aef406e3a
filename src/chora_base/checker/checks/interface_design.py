"""Interface design SAP (ID): one error model, a committed contract, transport details."""

from __future__ import annotations

import re
from typing import Any

from chora_base.checker.checks._common import http_exchange, needs_probe, operations, route_for
from chora_base.checker.checks.base import ChoraCheck, bullet, upgrade_hint
from chora_base.checker.probe import Probe
from chora_base.checker.project import ProjectInfo

FAMILY = "interface-design"
_AFTER_IMPORT = frozenset({"MI001"})
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class _ID(ChoraCheck):
    family = FAMILY


def _is_problem(resp: dict[str, Any]) -> bool:
    body = resp.get("json")
    return (
        resp.get("content_type", "").startswith("application/problem+json")
        and isinstance(body, dict)
        and bool(body.get("code"))
        and body.get("status") == resp.get("status")
    )


class ID001(_ID):
    "Every `DomainError` subclass declares its own code, HTTP status and exit code"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = (
        "The same failure must give the same code on every interface; an error that "
        "only inherits the base's values reaches callers as an internal error."
    )

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        errors = chora_probe.section("errors")
        if not errors.get("ok"):
            return f"Could not inspect the error hierarchy: {errors.get('error')}"
        problems = []
        for cls in errors.get("classes", []):
            unmapped = [a for a, ok in cls.get("mapped", {}).items() if not ok]
            if not cls.get("own_code"):
                unmapped = ["code", *[a for a in unmapped if a != "code"]]
            if unmapped:
                problems.append(f"`{cls['name']}` sets no {', '.join(unmapped)}")
        if problems:
            return (
                "Unmapped errors; give each one class attributes, e.g. "
                '`code = "note_locked"`, `http_status = 409`, `exit_code = 4`:\n' + bullet(problems)
            )
        return ""


class ID002(_ID):
    "Error codes are unique snake_case names; statuses are 4xx/5xx and exit codes 1-125"

    tier = "essential"
    requires = frozenset({"ID001"})
    rationale = "Clients branch on the code; two errors sharing one code cannot be told apart."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        problems = []
        owners: dict[str, str] = {}
        for cls in chora_probe.section("errors").get("classes", []):
            code, name = cls.get("code"), cls["name"]
            if not isinstance(code, str) or not _SNAKE.match(code):
                problems.append(f"`{name}`: code {code!r} is not snake_case")
            elif code in owners:
                problems.append(f"`{name}` and `{owners[code]}` share code `{code}`")
            else:
                owners[code] = name
            status, exit_code = cls.get("http_status"), cls.get("exit_code")
            if not isinstance(status, int) or not 400 <= status <= 599:
                problems.append(f"`{name}`: http_status {status!r} is not 4xx/5xx")
            if not isinstance(exit_code, int) or not 1 <= exit_code <= 125:
                problems.append(f"`{name}`: exit_code {exit_code!r} is not in 1-125")
        return "Fix these error attributes:\n" + bullet(problems) if problems else ""


class ID003(_ID):
    "Every error an operation declares is a `DomainError`"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = "Only DomainErrors carry the code, status and exit code the adapters need."

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        errors = chora_probe.section("errors")
        bad = [f"{e['operation']}: {e['error']}" for e in errors.get("not_domain", [])]
        if bad:
            return (
                f"Make these subclasses of `{chora_project.package}.DomainError` (or remove "
                "them from `errors=`):\n" + bullet(bad)
            )
        return ""


class ID004(_ID):
    "REST errors are RFC 9457 `application/problem+json` with a stable `code`"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = "One machine-readable error shape lets clients handle every failure alike."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        resp = http_exchange(chora_probe, "unknown")
        if isinstance(resp, str):
            return f"Could not request an unknown path: {resp}"
        if resp.get("status") != 404 or not _is_problem(resp):
            return (
                "`GET /<unknown path>` answered "
                f"{resp.get('status')} `{resp.get('content_type')}`: {resp.get('text')!r}. "
                "Install the template's exception handlers in `create_app()` so every "
                "error is a problem object with `type`, `title`, `status`, `detail`, `code`."
            )
        return ""


class ID005(_ID):
    "The OpenAPI contract is committed as `openapi.json`"

    tier = "recommended"
    rationale = "A committed contract makes API changes visible in review."

    def check(self, chora_project: ProjectInfo) -> str:
        if not (chora_project.root / "openapi.json").is_file():
            return (
                "Commit the REST contract: run "
                f"`python -m {chora_project.package or '<package>'}.interfaces.contract` "
                "(writes `create_app().openapi()` to `openapi.json`) and commit the file. "
                + upgrade_hint("recommended")
            )
        return ""


class ID006(_ID):
    "The committed `openapi.json` matches `create_app().openapi()`"

    tier = "recommended"
    requires = frozenset({"ID005", "MI001"})
    rationale = "A contract that drifts from the app misleads every client generated from it."

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        section = chora_probe.section("openapi")
        if not section.get("ok"):
            return f"Could not compare the contract: {section.get('error') or 'no REST app'}"
        if not section.get("matches"):
            return (
                "`openapi.json` has drifted from the app. If the change is intended, "
                f"regenerate it with `python -m {chora_project.package}.interfaces.contract` "
                "and commit it; otherwise revert the API change. Differences:\n"
                + bullet(section.get("differences", []))
            )
        return ""


class ID007(_ID):
    "REST echoes `X-Request-ID` (accepted or generated) on every response"

    tier = "recommended"
    requires = _AFTER_IMPORT
    rationale = "One ID ties a caller's request to the server's log lines."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        resp = http_exchange(chora_probe, "request_id")
        if isinstance(resp, str):
            return f"Could not call /health: {resp}"
        echoed = resp.get("headers", {}).get("x-request-id")
        if echoed != "chora-check-request-id":
            return (
                f"`X-Request-ID: chora-check-request-id` came back as {echoed!r}. Add the "
                "template's request-ID middleware. " + upgrade_hint("recommended")
            )
        return ""


class ID008(_ID):
    "Operation routes live under a versioned prefix (`/v1`)"

    tier = "advanced"
    requires = _AFTER_IMPORT
    rationale = "A version prefix lets a breaking v2 ship beside v1 instead of replacing it."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        routes = chora_probe.section("rest").get("routes", [])
        bad = []
        for op in operations(chora_probe):
            route = route_for(op, routes)
            if route is not None and not re.match(r"^/v\d+/", route["path"]):
                bad.append(f"{op['method']} {route['path']}")
        if bad:
            return (
                "Mount operation routes under `/v1` (the advanced template uses an "
                '`APIRouter(prefix="/v1")`):\n' + bullet(bad) + "\n\n" + upgrade_hint("advanced")
            )
        return ""


class ID009(_ID):
    "Mutating REST operations refuse requests without a bearer token"

    tier = "advanced"
    requires = _AFTER_IMPORT
    rationale = "Anyone who can reach the port must not be able to change or delete data."

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        http = chora_probe.section("http")
        if "auth" not in http:
            return f"Could not call the mutating routes: {http.get('error', 'no REST app')}"
        open_ops = [
            f"{a['method']} {a['path']} -> {a['status']}"
            for a in http["auth"]
            if a["status"] != 401 or a["code"] != "unauthorized"
        ]
        if open_ops:
            return (
                f"These answered without a token (expected 401 `unauthorized`); require "
                f"`Authorization: Bearer ${chora_project.env_prefix}API_TOKEN` on every "
                "non-read-only operation:\n" + bullet(open_ops) + "\n\n" + upgrade_hint("advanced")
            )
        if not http["auth"]:
            return "The table has no mutating operation reachable over REST to test."
        return ""


class ID010(_ID):
    "`/metrics` serves Prometheus metrics per operation"

    tier = "advanced"
    requires = _AFTER_IMPORT
    rationale = "Per-operation counts and latencies show which interface call is slow or failing."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        resp = http_exchange(chora_probe, "metrics")
        if isinstance(resp, str):
            return f"Could not call /metrics: {resp}"
        if resp.get("status") != 200 or "# TYPE" not in resp.get("text", ""):
            return (
                f"`GET /metrics` answered {resp.get('status')}; expose Prometheus metrics "
                "with per-operation counters and latency histograms. " + upgrade_hint("advanced")
            )
        return ""


class ID011(_ID):
    "Operation calls are traced with OpenTelemetry and accept W3C `traceparent`"

    tier = "recommended"
    rationale = (
        "A call that crosses the CLI, REST, MCP and peer servers can only be followed when each "
        "hop joins the caller's trace and logs its trace id."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        # Read from the files, not the running app: tracing is off until a server starts.
        pyproject = chora_project.read_text("pyproject.toml") or ""
        problems = []
        if "opentelemetry-sdk" not in pyproject:
            problems.append("`opentelemetry-sdk` is not a dependency in `pyproject.toml`")
        sources = [p.read_text(encoding="utf-8", errors="replace") for p in chora_project.python_sources()]
        opens_span = re.compile(r"\bstart_(as_current_)?span\b")
        if not any("opentelemetry" in text and opens_span.search(text) for text in sources):
            problems.append("no module of the package opens a span per operation call")
        if not any("traceparent" in text for text in sources):
            problems.append("nothing in the package reads or sends the `traceparent` header")
        if problems:
            return (
                "Trace every operation call and accept W3C trace context (the template's "
                "`core/tracing.py`, used by `core/observe.py`'s `recorded()`):\n"
                + bullet(problems)
                + "\n\n"
                + upgrade_hint("recommended")
            )
        return ""


class ID012(_ID):
    "Long-running operations answer `202` and have an operation resource (get, cancel, list)"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = (
        "An operation that runs for minutes must not hold a request open: callers start it, follow "
        "its progress and cancel it through one resource (Google AIP-151), the same on every interface."
    )

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        long_running = [op for op in operations(chora_probe) if op.get("long_running")]
        if not long_running:
            return ""
        routes = [r for r in chora_probe.section("rest").get("routes", []) if r.get("kind") == "route"]
        wanted = {
            "GET .../operations": r"/operations$",
            "GET .../operations/{id}": r"/operations/\{\w+\}$",
            "POST .../operations/{id}:cancel": r"/operations/\{\w+\}:cancel$",
        }
        missing = [
            name
            for name, pattern in wanted.items()
            if not any(re.search(pattern, r["path"]) and name.split()[0] in r.get("methods", []) for r in routes)
        ]
        if missing:
            return (
                f"The table marks {', '.join(op['name'] for op in long_running)} long-running, but the REST "
                "app lacks the operation resource:\n"
                + bullet(missing)
                + "\n\nAdd the template's `interfaces/operations_api.py` routes. "
                + upgrade_hint("essential")
            )
        resp = http_exchange(chora_probe, "unknown_operation_id")
        if isinstance(resp, str):
            return f"Could not read an unknown operation: {resp}"
        if resp.get("status") != 404 or not _is_problem(resp) or resp["json"]["code"] != "operation_not_found":
            return (
                f"`GET .../operations/<unknown id>` answered {resp.get('status')}: {resp.get('text')!r}; "
                "answer 404 with a problem object whose code is `operation_not_found`."
            )
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (
    ID001,
    ID002,
    ID003,
    ID004,
    ID005,
    ID006,
    ID007,
    ID008,
    ID009,
    ID010,
    ID011,
    ID012,
)
