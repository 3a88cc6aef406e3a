"""Bootstrap SAP (BS): the server starts from one command and reports its own health."""

from __future__ import annotations

from chora_base.checker.checks._common import http_exchange, needs_probe
from chora_base.checker.checks.base import ChoraCheck
from chora_base.checker.probe import Probe
from chora_base.checker.project import ProjectInfo

FAMILY = "bootstrap"


class _BS(ChoraCheck):
    family = FAMILY
    requires = frozenset({"MI001"})


class BS001(_BS):
    "`GET /health` answers 200 with a JSON body"

    tier = "essential"
    rationale = "Supervisors and registries decide whether a process is alive from /health."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        resp = http_exchange(chora_probe, "health")
        if isinstance(resp, str):
            return f"Could not call /health: {resp}"
        if resp.get("status") != 200 or not isinstance(resp.get("json"), dict):
            return (
                f"`GET /health` answered {resp.get('status')} {resp.get('text')!r}. Add a "
                '`/health` route returning `{"status": "ok"}` without touching storage.'
            )
        return ""


class BS002(_BS):
    "`GET /ready` answers 200 once the server can serve requests"

    tier = "essential"
    rationale = "Readiness (storage reachable) is separate from liveness, so traffic waits."

    @needs_probe
    def check(self, chora_probe: Probe) -> str:
        resp = http_exchange(chora_probe, "ready")
        if isinstance(resp, str):
            return f"Could not call /ready: {resp}"
        if resp.get("status") != 200:
            return (
                f"`GET /ready` answered {resp.get('status')} {resp.get('text')!r}. Add a "
                "`/ready` route that checks the store and answers 200 when it works."
            )
        return ""


class BS003(_BS):
    "The CLI has a `serve` command that starts the REST server"

    tier = "essential"
    rationale = "One command starts the server, configured from the environment."

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        cli = chora_probe.section("cli")
        if not cli.get("ok"):
            return f"The CLI cannot be loaded: {cli.get('error')}"
        if "serve" not in cli.get("commands", []):
            return (
                f"Add a `serve` command to `{chora_project.cli_name}` that runs uvicorn on "
                f"`create_app` (host/port from `{chora_project.env_prefix}HOST`/`PORT`)."
            )
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (BS001, BS002, BS003)
