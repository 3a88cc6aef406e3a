"""Bootstrap SAP (BS): the server starts from one command and reports its own health; what
it depends on is declared; the stacks it keeps validate and, where applied, are up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from chora_base.checker.checks._common import http_exchange, needs_probe
from chora_base.checker.checks.base import ChoraCheck, bullet
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


_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class BS004(_BS):
    "Declared dependencies (`[tool.chora-base] dependencies`) are a list of server names"

    tier = "recommended"
    rationale = "The orchestrator starts a server after what it declares; a bad declaration breaks the order."
    requires = frozenset()

    def check(self, chora_project: ProjectInfo) -> str:
        table = chora_project.pyproject.get("tool", {}).get("chora-base", {})
        if "dependencies" not in table:
            return ""  # nothing declared: the server depends on no other server
        declared = table["dependencies"]
        own = str(chora_project.pyproject.get("project", {}).get("name", ""))
        bad = (
            [repr(d) for d in declared if not isinstance(d, str) or not _NAME.match(d) or d == own]
            if isinstance(declared, list)
            else [repr(declared)]
        )
        if bad:
            return (
                "`[tool.chora-base] dependencies` in `pyproject.toml` must be a list of other servers' names "
                f'(lower-case words joined by hyphens), e.g. `dependencies = ["notes"]`. Not names: {", ".join(bad)}.'
            )
        return ""


def _stack_files(root: Path) -> list[Path]:
    found = [root / n for n in ("stack.yaml", "stack.yml") if (root / n).is_file()]
    stacks = root / "stacks"
    return found + (sorted(p for p in stacks.iterdir() if p.suffix in (".yaml", ".yml")) if stacks.is_dir() else [])


def _orchestrator(root: Path) -> str | None:
    """The orchestrator that validates and runs this project's stacks: the project's own (it
    is the orchestrator), the one bootstrap.py installed beside it, or one on PATH."""
    for candidate in (
        root / ".venv" / "bin" / "orchestrator",
        root / ".orchestrator" / "venv" / "bin" / "orchestrator",
    ):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("orchestrator")


def _run(cli: str, args: list[str], root: Path, env: dict[str, str] | None = None) -> tuple[int, dict | None]:
    full = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | (env or {})
    try:
        proc = subprocess.run(
            [cli, *args, "--json"], capture_output=True, text=True, cwd=root, env=full, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, {"detail": str(exc)}
    lines = proc.stdout.strip().splitlines()
    try:
        return proc.returncode, json.loads(lines[-1]) if lines else None
    except ValueError:
        return proc.returncode, {"detail": (proc.stderr or proc.stdout).strip()[-300:]}


class BS005(_BS):
    "Stack files (`stack.yaml`, `stacks/*.yaml`) validate"

    tier = "recommended"
    rationale = "A stack file is checked before anything starts; a bad one should fail review, not a deploy."
    requires = frozenset()

    def check(self, chora_project: ProjectInfo) -> str:
        files = _stack_files(chora_project.root)
        if not files:
            return ""  # this project keeps no stack
        cli = _orchestrator(chora_project.root)
        if cli is None:
            return (
                "Stack files are here but no orchestrator to validate them: run "
                "`python3 bootstrap.py stack.yaml` once (it installs one under `.orchestrator/`)."
            )
        problems: list[str] = []
        with tempfile.TemporaryDirectory() as scratch:  # plan only reads; give it an empty state
            for path in files:
                code, data = _run(
                    cli, ["plan", "--stack-file", str(path)], chora_project.root, {"ORCHESTRATOR_DATA_DIR": scratch}
                )
                if code != 0:
                    problems.append(f"`{path.relative_to(chora_project.root)}`: {(data or {}).get('detail', code)}")
        return bullet(problems) if problems else ""


class BS006(_BS):
    "The servers of an applied stack answer `/ready` and are `up` in the registry"

    tier = "recommended"
    rationale = "A stack is done when every server is ready and registered, not when its processes exist."
    requires = frozenset()

    def check(self, chora_project: ProjectInfo) -> str:
        cli = _orchestrator(chora_project.root)
        if cli is None:
            return ""  # no orchestrator here, so no stack of this project is applied here
        problems: list[str] = []
        for path in _stack_files(chora_project.root):
            code, data = _run(cli, ["status", "--stack-file", str(path)], chora_project.root)
            rows = (data or {}).get("servers", []) if code == 0 else []
            if not any(r.get("process") == "running" for r in rows):
                continue  # not applied on this machine
            for row in rows:
                member = str(row.get("server", "")).startswith("etcd-")
                want = ("running", "ready") if member else ("running", "ready", "up")
                got = (row.get("process"), row.get("health")) + (() if member else (row.get("registry"),))
                if got != want:
                    problems.append(
                        f"`{path.name}` {row.get('server')}: process {got[0]}, /ready {got[1]}"
                        + ("" if member else f", registry {got[2]}")
                    )
        if problems:
            return "Run `orchestrator apply` (its error names the cause), then check again:\n" + bullet(problems)
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (BS001, BS002, BS003, BS004, BS005, BS006)
