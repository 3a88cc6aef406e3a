"""Reading a stack file: YAML, the schema, and the checks the schema cannot express.

Every problem is reported with the line it sits on and the reason, and all problems of a file
are reported at once. Nothing is started while a file is invalid.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import StackInvalid
from .models import RESERVED_SETTINGS, Stack

REGISTRY = "registry"


def etcd_members(stack: Stack) -> list[str]:
    """The etcd members the orchestrator runs for the registry (none with SQLite)."""
    registry = stack.registry
    if registry is None or registry.backend != "etcd":
        return []
    return [f"etcd-{i}" for i in range(registry.etcd.members if registry.etcd else 1)]


@dataclass(frozen=True)
class Problem:
    line: int | None
    where: str
    reason: str

    def as_error(self) -> dict[str, Any]:
        loc = [self.where] if self.where else []
        return {"loc": loc, "msg": self.reason, "type": "stack_invalid", "line": self.line}

    def __str__(self) -> str:
        at = f"line {self.line}" if self.line else "file"
        return f"{at}: {self.where + ': ' if self.where else ''}{self.reason}"


@dataclass
class LoadedStack:
    stack: Stack
    base: Path
    text: str = ""
    #: the dependencies of each server, declared or overridden, after validation
    depends: dict[str, list[str]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return self.members + ([REGISTRY] if self.stack.registry else []) + list(self.stack.servers)

    @property
    def members(self) -> list[str]:
        return etcd_members(self.stack)


def source_kind(source: str) -> str:
    if source.startswith(("git+", "git@")) or source.endswith(".git"):
        return "git"
    if source.startswith((".", "/", "~")):
        return "path"
    return "requirement"


def source_path(source: str, base: Path) -> Path:
    return (base / Path(source).expanduser()).resolve()


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line of the YAML node a pydantic error location points at (the nearest existing one)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                break
            key, node = match
            line = key.start_mark.line + 1  # the key's line: also where an unknown key sits
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _declared_dependencies(project: Path) -> list[str]:
    """What a server declares in its pyproject.toml: ``[tool.chora-base] dependencies``."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return []
    found = data.get("tool", {}).get("chora-base", {}).get("dependencies", [])
    return [str(d) for d in found] if isinstance(found, list) else []


def parse(text: str, base: Path, origin: str = "stack file") -> LoadedStack:
    """Validate stack text; ``base`` is the folder relative source paths start from."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = Problem(line, "", f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
        raise _invalid(origin, [problem]) from None
    if not isinstance(data, dict):
        raise _invalid(origin, [Problem(1, "", "a stack file is a mapping with `name`, `registry` and `servers`")])
    try:
        stack = Stack.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(_line_of(root, tuple(err["loc"])), ".".join(str(p) for p in err["loc"]), _reason(err))
            for err in exc.errors(include_url=False)
        ]
        raise _invalid(origin, problems) from None
    loaded = LoadedStack(stack, base, text)
    problems = _semantic_problems(loaded, root)
    if problems:
        raise _invalid(origin, problems)
    return loaded


def load(path: Path) -> LoadedStack:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackInvalid(f"Cannot read stack file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise StackInvalid(f"Stack file {path} is not UTF-8 text (byte {exc.start})") from None
    return parse(text, path.parent.resolve(), str(path))


def _reason(err: dict[str, Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown key"
    return str(err.get("msg", "invalid"))


def _semantic_problems(loaded: LoadedStack, root: yaml.Node | None) -> list[Problem]:
    stack = loaded.stack
    problems: list[Problem] = []

    def at(*loc: Any) -> int | None:
        return _line_of(root, loc)

    specs: list[tuple[tuple[str, ...], str, Any]] = []
    if stack.registry is not None:
        specs.append((("registry",), REGISTRY, stack.registry))
    specs += [(("servers", name), name, spec) for name, spec in stack.servers.items()]
    for reserved in [REGISTRY, *(f"etcd-{i}" for i in range(3))]:
        if reserved in stack.servers:
            problems.append(
                Problem(at("servers", reserved), f"servers.{reserved}", f"the name `{reserved}` is reserved")
            )
    if stack.registry is not None and stack.registry.etcd is not None and stack.registry.backend != "etcd":
        problems.append(Problem(at("registry", "etcd"), "registry.etcd", "only with `backend: etcd`"))
    if etcd_members(stack):  # the registry needs its etcd members up first
        loaded.depends[REGISTRY] = etcd_members(stack)
    ports: dict[int, str] = {}
    for loc, name, spec in specs:
        where = ".".join(loc)
        if source_kind(spec.source) == "path":
            path = source_path(spec.source, loaded.base)
            if not (path / "pyproject.toml").is_file():
                problems.append(
                    Problem(at(*loc, "source"), f"{where}.source", f"no project at {spec.source} (no pyproject.toml)")
                )
        for key in spec.settings:
            if key.lower() in RESERVED_SETTINGS:
                problems.append(
                    Problem(at(*loc, "settings", key), f"{where}.settings.{key}", "set by the orchestrator itself")
                )
        if spec.port is not None:
            if spec.port in ports:
                problems.append(
                    Problem(at(*loc, "port"), f"{where}.port", f"port {spec.port} is also {ports[spec.port]}'s")
                )
            ports[spec.port] = name
    for name, spec in stack.servers.items():
        if spec.depends_on is not None:
            deps = list(spec.depends_on)
        elif source_kind(spec.source) == "path":
            deps = [d for d in _declared_dependencies(source_path(spec.source, loaded.base)) if d != REGISTRY]
        else:
            deps = []
        for i, dep in enumerate(deps):
            if dep not in stack.servers:
                line = at("servers", name, "depends_on", i) if spec.depends_on is not None else at("servers", name)
                problems.append(Problem(line, f"servers.{name}.depends_on", f"`{dep}` is not a server of this stack"))
        loaded.depends[name] = [d for d in deps if d in stack.servers]
    cycle = find_cycle(loaded.depends)
    if cycle:
        problems.append(
            Problem(at("servers", cycle[0]), f"servers.{cycle[0]}", "dependency cycle: " + " -> ".join(cycle))
        )
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One cycle of the dependency graph (first node repeated at the end), or []."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if colour.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if colour.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return []

    for node in graph:
        if colour.get(node) is None:
            found = visit(node)
            if found:
                return found
    return []


def levels(graph: dict[str, list[str]]) -> list[list[str]]:
    """Servers in start order: each level depends only on earlier ones (Kahn's layers)."""
    remaining = dict(graph)
    done: set[str] = set()
    out: list[list[str]] = []
    while remaining:
        level = sorted(n for n, deps in remaining.items() if all(d in done for d in deps))
        out.append(level)
        done.update(level)
        for n in level:
            del remaining[n]
    return out


def _invalid(origin: str, problems: list[Problem]) -> StackInvalid:
    lines = "; ".join(str(p) for p in problems)
    return StackInvalid(f"{origin}: {lines}", errors=[p.as_error() for p in problems])
