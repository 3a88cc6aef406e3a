"""Capability server template SAP (TP): files and tooling every rendered project carries."""

from __future__ import annotations

import re

import yaml

from chora_base.checker.catalog import TIERS
from chora_base.checker.checks._common import INFRA_COMMANDS, cli_command, operations, probe_problem
from chora_base.checker.checks.base import ChoraCheck, upgrade_hint
from chora_base.checker.probe import Probe
from chora_base.checker.project import ANSWERS_FILE, ProjectInfo

FAMILY = "capability-server-template"


class _TP(ChoraCheck):
    family = FAMILY


def _workflows(project: ProjectInfo) -> dict[str, str]:
    folder = project.root / ".github" / "workflows"
    if not folder.is_dir():
        return {}
    found: dict[str, str] = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            found[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return found


def _run_lines(text: str) -> str:
    """The shell commands of a workflow (its `run:` steps), not its comments or names."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return ""
    lines: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "run" and isinstance(value, str):
                    lines.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return "\n".join(lines)


class TP001(_TP):
    "`.copier-answers.yml` records the template source, version and tier"

    tier = "essential"
    rationale = (
        "The answers file is how `copier update` finds the template and how this "
        "checker knows which tier the project claims."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        p = chora_project
        if p.answers_error:
            return f"{p.answers_error}. Restore it from git history or re-run `copier copy`."
        if not (p.root / ANSWERS_FILE).is_file():
            return (
                f"There is no `{ANSWERS_FILE}`. Render the project with "
                "`copier copy <chora-base> <dest>` (or, for an existing repository, "
                "`copier copy` over it and merge) so that updates and tier checks work."
            )
        missing = [k for k in ("_src_path", "_commit", "tier") if not p.answers.get(k)]
        if missing:
            return (
                f"`{ANSWERS_FILE}` lacks {', '.join(f'`{m}`' for m in missing)}. Do not edit "
                "this file by hand; re-render with `copier copy --vcs-ref <tag>`."
            )
        if p.declared_tier is None:
            return (
                f"`tier: {p.answers.get('tier')}` is not one of {', '.join(TIERS)}. "
                "Fix it with `copier update --data tier=<tier>`."
            )
        return ""


_TABLE_OP = re.compile(r"^\|\s*`([A-Za-z_][\w-]*)`")
_TOOL_CALL = re.compile(r'"method":\s*"tools/call",\s*"params":\s*\{\s*"name":\s*"([^"]+)"')


_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_INLINE = re.compile(r"`([^`\n]+)`")


def code_of(text: str) -> list[str]:
    """The code in a Markdown text: fenced blocks and inline spans (prose is left out, so a
    sentence that starts with the program's name is not taken for a command)."""
    blocks = _FENCE.findall(text)
    return blocks + _INLINE.findall(_FENCE.sub("", text))


def documented(text: str, cli_name: str | None) -> set[str]:
    """Operations a document claims exist: commands after the CLI's name in code, MCP
    `tools/call` names, and the first column of a table headed `operation`. Names come back as
    written (CLI commands with hyphens, the rest as Python names)."""
    found: set[str] = set()
    if cli_name:
        command = re.compile(
            # after a space, slash or line start, but not `from <pkg> import` when the names agree
            rf"(?:^|(?<=[\s/]))(?<!from )(?<!import ){re.escape(cli_name)}"
            r"[ \t]+([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])",
            re.MULTILINE,
        )
        for snippet in code_of(text):
            found |= set(command.findall(snippet))
    found |= set(_TOOL_CALL.findall(text))
    in_table = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if not cells:
            in_table = False
        elif cells[0].lower() in ("operation", "operations"):
            in_table = True
        elif in_table and (match := _TABLE_OP.match(line.strip())):
            found.add(match.group(1))
    return found


def doc_gaps(name: str, text: str, project: ProjectInfo, probe: Probe) -> str:
    """What `text` (the document `name`) leaves out of the operation table, or documents that
    the table and CLI do not have; empty when they agree or the project cannot be probed."""
    if probe_problem(probe) or not probe.section("operations").get("ok"):
        return ""
    ops = [op["name"] for op in operations(probe)]
    words = set(re.findall(r"[\w-]+", text))
    missing = [op for op in ops if op not in words and cli_command(op) not in words]
    known = set(ops) | {cli_command(op) for op in ops} | INFRA_COMMANDS
    known |= set(probe.section("cli").get("commands", []))
    stale = sorted(documented(text, project.cli_name) - known)
    regenerate = f"`python -m {project.package}.interfaces.contract`" if project.package else "the generator"
    lines = []
    if missing:
        lines.append(f"{name} does not document {', '.join(f'`{m}`' for m in missing)}.")
    if stale:
        lines.append(f"{name} documents {', '.join(f'`{m}`' for m in stale)}, which the operation table does not have.")
    if lines:
        lines.append(
            f"Regenerate its marked regions from the table with {regenerate} (the template's "
            "README.md and AGENTS.md carry them), or fix the text by hand."
        )
    return " ".join(lines)


class TP002(_TP):
    "README.md shows every operation of the table on each interface, and nothing the table lacks"

    tier = "essential"
    rationale = (
        "A user should be able to call the server from the README alone, and every command it shows should exist."
    )

    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        text = chora_project.read_text("README.md")
        if text is None:
            return "Add a `README.md` with usage of the CLI, REST API and Python API."
        missing = [word for word in ("CLI", "REST", "Python") if word.lower() not in text.lower()]
        if missing:
            return (
                f"README.md does not mention {', '.join(missing)}. Document each interface "
                "with a runnable example (the template's README has one per interface)."
            )
        return doc_gaps("README.md", text, chora_project, chora_probe)


class TP003(_TP):
    "AGENTS.md (with the usage page it links) covers every operation, and nothing the table lacks"

    tier = "essential"
    rationale = (
        "Agents learn how to work on and call a server from AGENTS.md and its usage page; a missing "
        "or invented operation sends them wrong."
    )

    def check(self, chora_project: ProjectInfo, chora_probe: Probe) -> str:
        text = chora_project.read_text("AGENTS.md")
        if text is None:
            return (
                "`AGENTS.md` is missing. Restore it (`git checkout -- AGENTS.md`) or write it afresh "
                f"with `python -m {chora_project.package or '<package>'}.interfaces.contract` (or "
                "`copier update`); it tells agents where code goes and which operations exist."
            )
        if len(text.strip()) < 40:
            return "`AGENTS.md` is empty. Describe where code goes, the commands to run and the operations."
        gaps = [doc_gaps("AGENTS.md", text, chora_project, chora_probe)]
        usage = chora_project.read_text("docs/usage.md") if "docs/usage.md" in text else None
        if usage is not None:  # the usage page AGENTS.md sends agents to
            gaps.append(doc_gaps("docs/usage.md", usage, chora_project, chora_probe))
        return "\n".join(g for g in gaps if g)


class TP004(_TP):
    "Ruff is configured in pyproject.toml"

    tier = "essential"
    rationale = "One linter configuration, shared by editors, pre-commit and CI."

    def check(self, chora_project: ProjectInfo) -> str:
        p = chora_project
        if p.pyproject_error:
            return f"{p.pyproject_error}."
        if not p.pyproject:
            return "There is no `pyproject.toml`. Add one with `[project]` and `[tool.ruff]`."
        if "ruff" not in p.pyproject.get("tool", {}) and not (p.root / "ruff.toml").is_file():
            return "Add a `[tool.ruff]` table to `pyproject.toml` (line length, rule selection)."
        return ""


class TP005(_TP):
    "The CI workflow runs lint and tests"

    tier = "essential"
    rationale = "Tests that CI does not run do not protect anything."

    def check(self, chora_project: ProjectInfo) -> str:
        flows = _workflows(chora_project)
        if not flows:
            return (
                "There is no workflow in `.github/workflows/`. Add `ci.yml` running "
                "`ruff check`, `pytest` and `chora-base check .`."
            )
        commands = "\n".join(_run_lines(t) for t in flows.values())
        missing = [tool for tool in ("ruff", "pytest") if tool not in commands]
        if missing:
            return (
                f"No workflow step runs {' or '.join(missing)}. Add `run:` steps for "
                "`ruff check .` and `pytest` to `.github/workflows/ci.yml`."
            )
        return ""


class TP006(_TP):
    "The CI workflow runs this compliance checker at the template version it follows"

    tier = "essential"
    requires = frozenset({"TP005"})
    rationale = "A project is judged by the rules of the template version it was rendered from, on every push."

    def check(self, chora_project: ProjectInfo) -> str:
        commands = "\n".join(_run_lines(t) for t in _workflows(chora_project).values())
        if not re.search(r"chora-base\s+check", commands):
            return (
                "No workflow step runs `chora-base check`. Add a step: "
                '`uvx --from "git+<_src_path>@<_commit>" chora-base check .` (values from '
                "`.copier-answers.yml`)."
            )
        return ""


class TP007(_TP):
    "The template's generic tests (parity, journey, bad input, CLI start-up) are present"

    tier = "essential"
    rationale = (
        "These tests prove every interface behaves the same; they are generic over "
        "the operation table, so they stay valid as the domain changes."
    )

    def check(self, chora_project: ProjectInfo) -> str:
        tests = chora_project.root / "tests"
        wanted = ["test_parity.py", "test_journey.py", "test_bad_input.py", "test_cli_startup.py"]
        missing = [name for name in wanted if not (tests / name).is_file()]
        if missing:
            return (
                f"Missing {', '.join(f'`tests/{m}`' for m in missing)}. Restore them with "
                "`copier update` (they are template-owned; do not delete them)."
            )
        return ""


class TP008(_TP):
    "pre-commit runs ruff before each commit"

    tier = "recommended"
    rationale = "Lint failures caught before commit never reach review or CI."

    def check(self, chora_project: ProjectInfo) -> str:
        text = chora_project.read_text(".pre-commit-config.yaml")
        if text is None:
            return "Add `.pre-commit-config.yaml` with the ruff hooks. " + upgrade_hint("recommended")
        if "ruff" not in text:
            return "`.pre-commit-config.yaml` has no ruff hook; add `ruff` and `ruff-format`."
        return ""


CHECKS: tuple[type[ChoraCheck], ...] = (TP001, TP002, TP003, TP004, TP005, TP006, TP007, TP008)
