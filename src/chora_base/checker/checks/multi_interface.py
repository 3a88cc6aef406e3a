"""Multi-interface SAP (MI): one operation table, every interface generated from it."""

from __future__ import annotations

import re

from chora_base.checker.checks._common import (
    INFRA_COMMANDS,
    INFRA_PATHS,
    cli_command,
    needs_probe,
    operations,
    route_for,
)
from chora_base.checker.checks.base import ChoraCheck, bullet, upgrade_hint
from chora_base.checker.probe import Probe
from chora_base.checker.project import ProjectInfo

FAMILY = "multi-interface"
_AFTER_IMPORT = frozenset({"MI001"})


class _MI(ChoraCheck):
    family = FAMILY


class MI001(_MI):
    "The package exposes `Service`, `DomainError` and a non-empty `OPERATIONS` table"

    tier = "essential"
    rationale = (
        "The operation table is the single source every interface is generated from; "
        "without it, interfaces drift apart."
    )

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        pkg = chora_project.package
        has = chora_probe.section("import").get("has", {})
        missing = [name for name, present in has.items() if not present]
        if missing:
            return (
                f"`{pkg}` does not export {', '.join(f'`{m}`' for m in missing)}. "
                f"Export them from `src/{pkg}/__init__.py` (the template's version does)."
            )
        section = chora_probe.section("operations")
        if not section.get("ok"):
            return f"Reading `{pkg}.OPERATIONS` failed: {section.get('error')}"
        if not operations(chora_probe):
            return (
                f"`{pkg}.OPERATIONS` is empty. Add one `Operation(...)` per service method "
                f"in `src/{pkg}/operations.py`."
            )
        broken = section.get("item_errors") or []
        if broken:
            return "Some operations cannot be read:\n" + bullet(broken)
        return ""


class MI002(_MI):
    "Every operation is a CLI command, and the CLI has no command the table lacks"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = "The CLI is generated from the table, so it offers exactly the operations."

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        cli = chora_probe.section("cli")
        if not cli.get("ok"):
            return (
                f"The Typer CLI cannot be loaded from `{chora_project.cli_entry}`: "
                f"{cli.get('error')}. Keep `interfaces/cli.py` from the template."
            )
        commands = set(cli.get("commands", []))
        expected = {cli_command(op["name"]) for op in operations(chora_probe)}
        missing = sorted(expected - commands)
        extra = sorted(commands - expected - INFRA_COMMANDS)
        lines = []
        if missing:
            lines.append(
                "Operations without a CLI command (build the CLI from `OPERATIONS` "
                "instead of declaring commands by hand):\n" + bullet(missing)
            )
        if extra:
            lines.append(
                "CLI commands with no operation in the table (add an `Operation(...)` "
                "for each, or remove the command):\n" + bullet(extra)
            )
        without_json = sorted(set(cli.get("without_json", [])) & expected)
        if without_json:
            lines.append("Commands without `--json`:\n" + bullet(without_json))
        return "\n\n".join(lines)


class MI003(_MI):
    "Every operation is a REST route, and the REST app has no route the table lacks"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = (
        "REST-only routes bypass the table: the CLI, MCP and client cannot reach "
        "them and parity tests do not cover them."
    )

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        rest = chora_probe.section("rest")
        if not rest.get("ok"):
            return (
                f"`{chora_project.package}.interfaces.rest.create_app()` failed: "
                f"{rest.get('error')}. Keep the template's `create_app()` factory."
            )
        routes = rest.get("routes", [])
        ops = operations(chora_probe)
        missing = [f"{op['name']} ({op['method']} {op['path']})" for op in ops if route_for(op, routes) is None]
        extra = []
        for route in routes:
            path = route["path"]
            if path in INFRA_PATHS or re.sub(r"^/v\d+", "", path) in INFRA_PATHS:
                continue
            if route.get("kind") == "mount":
                extra.append(f"mount {path}")
                continue
            for method in route.get("methods", []):
                if method in ("HEAD", "OPTIONS"):
                    continue
                if not any(route_for(op, [{**route, "methods": [method]}]) for op in ops):
                    extra.append(f"{method} {path}")
        lines = []
        if missing:
            lines.append("Operations without a REST route:\n" + bullet(missing))
        if extra:
            lines.append(
                "REST routes that are not in the operation table (move the logic "
                "into the service and add an `Operation(...)` so every interface "
                "gets it):\n" + bullet(extra)
            )
        return "\n\n".join(lines)


class MI004(_MI):
    "Every operation is an MCP tool with matching hints, and there are no other tools"

    tier = "recommended"
    requires = _AFTER_IMPORT
    rationale = (
        "Agents see the server through its MCP tools; a missing or extra tool "
        "means agents and humans get different servers."
    )

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        mcp = chora_probe.section("mcp")
        pkg = chora_project.package
        if not mcp.get("ok"):
            if mcp.get("missing"):
                return f"There is no MCP server (`{pkg}.interfaces.mcp.create_mcp_server`). " + upgrade_hint(
                    "recommended"
                )
            return f"Listing MCP tools failed: {mcp.get('error')}"
        tools = {t["name"]: t for t in mcp.get("tools", [])}
        ops = {op["name"]: op for op in operations(chora_probe)}
        lines = []
        missing = sorted(set(ops) - set(tools))
        extra = sorted(set(tools) - set(ops))
        if missing:
            lines.append(
                "Operations without an MCP tool (generate tools from `OPERATIONS` in "
                "`interfaces/mcp.py`; do not register them one by one):\n" + bullet(missing)
            )
        if extra:
            lines.append("MCP tools with no operation in the table:\n" + bullet(extra))
        hints = []
        for name in sorted(set(ops) & set(tools)):
            op, tool = ops[name], tools[name]
            if bool(tool.get("read_only")) != op["read_only"]:
                hints.append(f"{name}: readOnlyHint={tool.get('read_only')}, table read_only={op['read_only']}")
            if not op["read_only"] and bool(tool.get("destructive")) != op["destructive"]:
                hints.append(
                    f"{name}: destructiveHint={tool.get('destructive')}, table destructive={op['destructive']}"
                )
            if not tool.get("has_output_schema"):
                hints.append(f"{name}: no output schema (structured output)")
        if hints:
            lines.append("Tool annotations disagree with the table:\n" + bullet(hints))
        return "\n\n".join(lines)


class MI005(_MI):
    "The remote Python client has a method for every operation"

    tier = "recommended"
    requires = _AFTER_IMPORT
    rationale = "Code written against the native `Service` should work against a remote server by swapping in `Client`."

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        client = chora_probe.section("client")
        if not client.get("ok"):
            return (
                f"No remote client (`{chora_project.package}.interfaces.client.Client`): "
                f"{client.get('error')}. " + upgrade_hint("recommended")
            )
        methods = set(client.get("methods", []))
        missing = sorted(op["name"] for op in operations(chora_probe) if op["name"] not in methods)
        if missing:
            return "`Client` lacks methods for these operations (generate them from `OPERATIONS`):\n" + bullet(missing)
        return ""


class MI006(_MI):
    "`<cli> --help` and a domain command do not import FastAPI or the MCP SDK"

    tier = "essential"
    requires = _AFTER_IMPORT
    rationale = (
        "FastAPI and the MCP SDK take about 0.4 s and 0.8 s to import; a CLI that loads them for `--help` feels broken."
    )

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        runs = chora_probe.data.get("startup") or []
        if not runs:
            return (
                f"The CLI entry point `{chora_project.cli_entry}` could not be started. "
                "Declare it in `[project.scripts]`."
            )
        lines = []
        for run in runs:
            shown = " ".join([chora_project.cli_name or "cli", *run.get("args", [])])
            if not run.get("ok"):
                lines.append(f"`{shown}` failed: {run.get('error')}")
                continue
            if run.get("exit_code") not in (0, None):
                lines.append(f"`{shown}` exited with {run.get('exit_code')}")
            for module in run.get("imported", []):
                if module not in ("fastapi", "mcp"):
                    continue
                chain = " -> ".join(run.get("chains", {}).get(module, [])) or module
                lines.append(
                    f"`{shown}` imports `{module}` via {chain}. Move that import "
                    "inside the function that needs it (e.g. the `serve`/`mcp` "
                    "command body)."
                )
        return "\n".join(lines)


class MI007(_MI):
    "`docs/operations.md` documents every operation on every interface"

    tier = "recommended"
    requires = _AFTER_IMPORT
    rationale = (
        "A reference generated from the table shows each operation as CLI, REST, "
        "Python and MCP usage, so the docs cannot lag the code."
    )

    @needs_probe
    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        regenerate = f"`python -m {chora_project.package}.interfaces.contract`"
        text = chora_project.read_text("docs/operations.md")
        if text is None:
            return (
                f"`docs/operations.md` is missing. Generate it from the table with "
                f"{regenerate} and commit it. " + upgrade_hint("recommended")
            )
        missing = [op["name"] for op in operations(chora_probe) if op["name"] not in text]
        if missing:
            return f"`docs/operations.md` is stale; regenerate it with {regenerate}. Missing:\n" + bullet(missing)
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (MI001, MI002, MI003, MI004, MI005, MI006, MI007)
