"""Unit tests of the orchestrator's domain (no process is started here; the repository's
tests/bootstrap run real stacks). Yours: the template creates this file once."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.domain.errors import ServerNotInStack, StackInvalid
from orchestrator.domain.service import Service
from orchestrator.domain.stackfile import find_cycle, levels, parse
from orchestrator.domain.state import StackState


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two stand-in server projects (a pyproject.toml is what makes a folder a source)."""
    for name, declared in (("a", []), ("b", ["a"])):
        folder = tmp_path / name
        folder.mkdir()
        deps = ", ".join(f'"{d}"' for d in declared)
        (folder / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\n[tool.chora-base]\ndependencies = [{deps}]\n'
        )
    return tmp_path


GOOD = """\
name: demo
registry:
  source: ./a
servers:
  a:
    source: ./a
  b:
    source: ./b
    settings:
      log_level: DEBUG
"""

# (stack text, line, words the reason must contain)
BAD = [
    ("name: demo\nservers:\n  a:\n    source: ./a\n    prot: 1\n", 5, "unknown key"),
    ("name: demo\nservers:\n  a:\n    source: ./missing\n", 4, "no project at ./missing"),
    (
        "name: demo\nservers:\n  a:\n    source: ./a\n    port: 9001\n  b:\n    source: ./b\n    port: 9001\n",
        8,
        "port 9001 is also a's",
    ),
    (
        "name: demo\nservers:\n  a:\n    source: ./a\n    depends_on: [b]\n  b:\n    source: ./b\n",
        3,
        "dependency cycle: a -> b -> a",
    ),
    ("name: demo\nservers:\n  b:\n    source: ./b\n    depends_on: [zed]\n", 5, "`zed` is not a server"),
    ("name: demo\nservers:\n  a:\n    source: ./a\n    settings:\n      port: 1\n", 6, "set by the orchestrator"),
    ("name: demo\nservers:\n  a:\n    source: ./a\n    port: 70000\n", 5, "less than or equal to 65535"),
    ("name: demo\nservers:\n  a: [\n", 4, "not valid YAML"),
    ("- just a list\n", 1, "a stack file is a mapping"),
    ("name: Demo Stack\n", 1, "should match pattern"),
    ("name: demo\nregistry:\n  source: ./a\n  etcd:\n    members: 3\n", 4, "only with `backend: etcd`"),
    ("name: demo\nregistry:\n  source: ./a\n  backend: etcd\n  etcd:\n    members: 2\n", 6, "1 or 3"),
    ("name: demo\nservers:\n  etcd-0:\n    source: ./a\n", 3, "the name `etcd-0` is reserved"),
    ("name: demo\nregistry:\n  source: ./a\n  settings:\n    backend: etcd\n", 5, "set by the orchestrator"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD)
def test_bad_stack_files_name_the_line_and_the_reason(project: Path, text: str, line: int, reason: str) -> None:
    with pytest.raises(StackInvalid) as caught:
        parse(text, project)
    assert reason in caught.value.detail
    assert f"line {line}" in caught.value.detail
    assert any(e["line"] == line for e in caught.value.errors or [])


def test_declared_dependencies_are_read_and_can_be_overridden(project: Path) -> None:
    loaded = parse(GOOD, project)
    assert loaded.depends == {"a": [], "b": ["a"]}
    overridden = parse(GOOD.replace("    settings:", "    depends_on: []\n    settings:"), project)
    assert overridden.depends == {"a": [], "b": []}


def test_levels_and_cycles() -> None:
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert levels(graph) == [["a"], ["b", "c"], ["d"]]
    assert find_cycle(graph) == []
    assert find_cycle({"x": ["y"], "y": ["z"], "z": ["x"]}) == ["x", "y", "z", "x"]


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    state = StackState(tmp_path / "s")
    first = state.secret("registry_token")
    assert first and state.secret("registry_token") == first
    assert stat.S_IMODE((tmp_path / "s" / "secrets" / "registry_token").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "s" / "secrets").stat().st_mode) == 0o700
    assert state.secret("other", create=False) is None


def test_plan_of_a_stack_never_applied_starts_everything(project: Path, tmp_path: Path) -> None:
    service = Service.from_settings(_settings(tmp_path))
    (project / "stack.yaml").write_text(GOOD)
    plan = service.plan(stack_file=str(project / "stack.yaml"))
    assert not plan.converged
    assert [(s.server, s.action) for s in plan.steps if s.action != "install"] == [
        ("registry", "start"),
        ("a", "start"),
        ("b", "start"),
    ]
    assert not (tmp_path / "data" / "stacks").exists()  # a plan records nothing


def test_logs_of_an_unknown_server(tmp_path: Path) -> None:
    service = Service.from_settings(_settings(tmp_path))
    with pytest.raises(ServerNotInStack):
        service.logs(server="zed", stack_text="name: empty\n")


def test_reset_removes_the_stack_folder(tmp_path: Path) -> None:
    service = Service.from_settings(_settings(tmp_path))
    service.apply(stack_text="name: empty\n")
    report = service.reset(stack_text="name: empty\n")
    assert "stacks/empty" in report.removed
    assert not (tmp_path / "data" / "stacks").exists()
    assert service.reset(stack_text="name: empty\n").message == "nothing to remove"


def _settings(tmp_path: Path):  # noqa: ANN202
    from orchestrator.core.settings import Settings

    return Settings(data_dir=tmp_path / "data")


def test_an_etcd_registry_puts_its_members_first(project: Path) -> None:
    from orchestrator.domain.engine import Engine

    registry = "name: demo\nregistry:\n  source: ./a\n  backend: etcd\n"
    servers = "servers:\n  a:\n    source: ./a\n  b:\n    source: ./b\n"
    loaded = parse(registry + "  etcd:\n    members: 3\n" + servers, project)
    assert loaded.members == ["etcd-0", "etcd-1", "etcd-2"]
    assert Engine(project / "data")._order(loaded) == [["etcd-0", "etcd-1", "etcd-2"], ["registry"], ["a"], ["b"]]
    assert parse(registry, project).members == ["etcd-0"]


def test_only_static_local_dependencies_join_the_shared_environment(tmp_path: Path) -> None:
    from orchestrator.domain import layer

    static, dynamic = tmp_path / "static", tmp_path / "dynamic"
    for folder in (static, dynamic):
        folder.mkdir()
    (static / "pyproject.toml").write_text('[project]\nname = "s"\ndependencies = ["httpx>=0.27", "pydantic"]\n')
    (dynamic / "pyproject.toml").write_text('[project]\nname = "d"\ndynamic = ["dependencies"]\n')
    assert layer.requirements("./static", tmp_path) == ["httpx>=0.27", "pydantic"]
    assert layer.requirements("./dynamic", tmp_path) is None  # known only once built: a whole venv
    assert layer.requirements("git+https://example.invalid/x.git", tmp_path) is None
    assert layer.requirements("some-package==1.0", tmp_path) is None
    # an environment pointing at a shared one that is gone (or never finished) is not intact
    venv = tmp_path / "venvs" / "a"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert layer.intact(venv)
    shared = tmp_path / "venvs" / layer.NAME
    layer.site_packages(venv).mkdir(parents=True)
    layer.link(venv, shared)
    assert not layer.intact(venv)
    layer.site_packages(shared).mkdir(parents=True)
    (shared / "requirements.txt").write_text("pydantic\n")
    assert layer.intact(venv)
    layer.link(venv, None)
    assert layer.intact(venv) and not (layer.site_packages(venv) / layer.PTH).exists()


def test_a_cancelled_apply_stops_before_starting_anything(project: Path, tmp_path: Path) -> None:
    from orchestrator.core.longrun import Cancellation, OperationCancelled, Progress

    cancel, seen = Cancellation(), []
    cancel.request()
    service = Service.from_settings(_settings(tmp_path))
    (project / "stack.yaml").write_text(GOOD)
    with pytest.raises(OperationCancelled):
        service.apply(
            stack_file=str(project / "stack.yaml"), progress=Progress(lambda f, m: seen.append(m)), cancel=cancel
        )
    assert not any(r.pid for r in service.engine.state(parse(GOOD, project, "x")).servers.values()) and not seen
