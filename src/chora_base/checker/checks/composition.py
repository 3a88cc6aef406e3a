"""Composition SAP (CP): servers that call servers, by name, through declared peers.

Everything here reads files only. The peers a server calls are declared once, in
``[tool.chora-base] dependencies`` of ``pyproject.toml`` (the table the orchestrator reads);
calls are ``<...>.peers.call("<peer>", "<operation>", ...)`` in the package's source.
"""

from __future__ import annotations

import ast
from pathlib import Path

from chora_base.checker.checks.base import ChoraCheck, bullet, upgrade_hint
from chora_base.checker.project import ProjectInfo

FAMILY = "composition"


class _CP(ChoraCheck):
    family = FAMILY


def declared_peers(project: ProjectInfo) -> list[str] | None:
    """``[tool.chora-base] dependencies``; None when it is there but not a list of names."""
    found = project.pyproject.get("tool", {}).get("chora-base", {}).get("dependencies", [])
    if not isinstance(found, list) or not all(isinstance(name, str) for name in found):
        return None
    return found


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments: a peer named once in a constant counts."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _is_peer_call(node: ast.Call) -> bool:
    """``peers.call(...)`` or ``<anything>.peers.call(...)``."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "call"):
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "peers") or (
        isinstance(owner, ast.Name) and owner.id == "peers"
    )


def peer_calls(path: Path) -> list[tuple[int, str | None]]:
    """(line, peer name) of each peer call in one file; the name is None when it is computed."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return []
    constants = _constants(tree)
    calls: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_peer_call(node) and node.args):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            calls.append((node.lineno, first.value))
        elif isinstance(first, ast.Name) and first.id in constants:
            calls.append((node.lineno, constants[first.id]))
        else:
            calls.append((node.lineno, None))
    return calls


class CP001(_CP):
    "Errors say whether to retry (`retryable` in every problem)"

    tier = "essential"
    rationale = (
        "A caller may repeat a call only when the failure is transient; the problem object says "
        "so with `retryable`, the same on REST, MCP, the CLI's `--json` and native exceptions."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        pkg_dir = chora_project.package_dir
        errors = pkg_dir / "core" / "errors.py" if pkg_dir else None
        text = errors.read_text(encoding="utf-8") if errors and errors.is_file() else ""
        if '"retryable"' not in text:
            return (
                "The problem objects carry no `retryable` member. Give each error class a "
                "`retryable` flag and put it in the problem (`core/errors.py`); "
                "`copier update` brings the template's."
            )
        return ""


class CP002(_CP):
    "Code calls only the peers it declares"

    tier = "recommended"
    rationale = (
        "The declared peers are what the server registers as its dependencies and what the "
        "orchestrator starts first; a call to an undeclared peer fails at run time."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        declared = declared_peers(chora_project)
        if declared is None:
            return "`[tool.chora-base] dependencies` in `pyproject.toml` must be a list of server names."
        problems = []
        for path in chora_project.python_sources():
            rel = path.relative_to(chora_project.root)
            for line, name in peer_calls(path):
                if name is None:
                    problems.append(f"`{rel}:{line}`: name the peer with a string or a module constant")
                elif name not in declared:
                    problems.append(f"`{rel}:{line}`: calls `{name}`, which is not declared")
        if problems:
            return (
                "Declare every peer the code calls in `pyproject.toml`:\n\n"
                "```toml\n[tool.chora-base]\ndependencies = [...]\n```\n\n" + bullet(problems)
            )
        return ""


class CP003(_CP):
    "Peer calls go through the peer directory, and registration carries the declared peers"

    tier = "recommended"
    rationale = (
        "`core/peers.py` finds peers in the registry, checks input against their contract, "
        "retries only where safe and breaks the circuit to a failing instance; the server "
        "registers its declared peers as its `dependencies`."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        pkg_dir = chora_project.package_dir
        if pkg_dir is None:
            return "No package found (the CLI entry point names none)."
        problems = []
        if not (pkg_dir / "core" / "peers.py").is_file():
            problems.append("`core/peers.py` (the peer directory) is missing. " + upgrade_hint("recommended"))
        client = pkg_dir / "core" / "manifest_client.py"
        text = client.read_text(encoding="utf-8") if client.is_file() else ""
        if '"dependencies": declared_peers(' not in text:
            problems.append(
                "The registration record does not carry the declared peers as `dependencies` "
                "(`core/manifest_client.py`, `describe_server`)."
            )
        return "\n".join(problems)


#: What an Advanced server needs to run sagas and events itself (``core/runtime.py`` explains it).
RUNTIME_MODULES = ("saga.py", "saga_operation.py", "events.py", "jetstream.py", "runtime.py")


class CP004(_CP):
    "The server runs its sagas, outbox relay and event consumers itself"

    tier = "advanced"
    rationale = (
        "Sagas resume after a crash only if the process that restarts launches them, and events "
        "leave the outbox only if a relay runs: the REST app's lifespan enters "
        "`core.runtime.running(settings)`, which does both and runs the declared consumers."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        pkg_dir = chora_project.package_dir
        if pkg_dir is None:
            return "No package found (the CLI entry point names none)."
        missing = [f"`core/{name}`" for name in RUNTIME_MODULES if not (pkg_dir / "core" / name).is_file()]
        if missing:
            return f"Missing: {', '.join(missing)}. " + upgrade_hint("advanced")
        rest = pkg_dir / "interfaces" / "rest.py"
        if "running(settings)" not in (rest.read_text(encoding="utf-8") if rest.is_file() else ""):
            return (
                "The REST app's lifespan (`interfaces/rest.py`) does not enter `running(settings)`: "
                "nothing launches the sagas or runs the relay and consumers. `copier update` brings the template's."
            )
        return ""


def _step_without_compensation(node: ast.expr) -> str | None:
    """The name of a ``Step(...)`` that leaves out its compensation (an explicit None is a choice)."""
    if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Step"):
        return None
    if len(node.args) >= 3 or any(k.arg == "compensate" for k in node.keywords):
        return None
    first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else "?"


def uncompensated_steps(path: Path) -> list[tuple[int, str]]:
    """(line, step) of each step before a saga's last that names no compensation."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return []
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Saga"):
            continue
        steps = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "steps"), None)
        if isinstance(steps, (ast.List, ast.Tuple)):
            for step in steps.elts[:-1]:  # the last step has nothing after it that could fail
                name = _step_without_compensation(step)
                if name is not None:
                    found.append((step.lineno, name))
    return found


class CP005(_CP):
    "Every saga step before the last says how it is undone"

    tier = "advanced"
    rationale = (
        "When a later step fails, the saga compensates the completed steps in reverse; a step "
        "that leaves out its compensation stays done. Pass one, or `compensate=None` where "
        "there is nothing to undo (a read), so the choice is written down."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        problems = []
        for path in chora_project.python_sources():
            rel = path.relative_to(chora_project.root)
            for line, name in uncompensated_steps(path):
                problems.append(f"`{rel}:{line}`: step `{name}` has no compensation")
        if problems:
            return "Give each step before a saga's last a compensation (or `compensate=None`):\n\n" + bullet(problems)
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (CP001, CP002, CP003, CP004, CP005)
