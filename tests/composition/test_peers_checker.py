"""The composition checks on the caller rendered for the peer tests, and on copies of it broken
one way each."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chora_base.checker.checks.composition import CP001, CP002, CP003
from chora_base.checker.project import load_project

if TYPE_CHECKING:
    from tests.composition.conftest import World


def _copy(world: World, tmp_path: Path) -> Path:
    """The caller's files without its environment (the checks read files only)."""
    dest = tmp_path / "caller"
    shutil.copytree(world.caller.project, dest, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_caller_passes(world: World) -> None:
    project = load_project(world.caller.project)
    assert [check().check(project) for check in (CP001, CP002, CP003)] == ["", "", ""]


@pytest.mark.parametrize(
    ("name", "check", "file", "old", "new", "says"),
    [
        ("undeclared peer", CP002, "pyproject.toml", 'dependencies = ["stamp-peer"]\n', "", "`stamp-peer`"),
        ("computed peer name", CP002, "src/relay_caller/domain/service.py", "call(PEER,", "call(PEER.lower(),", "name"),
        ("declaration not a list", CP002, "pyproject.toml", '["stamp-peer"]', '"stamp-peer"', "list"),
        ("no peer directory", CP003, "src/relay_caller/core/peers.py", None, None, "core/peers.py"),
        (
            "registration without the peers",
            CP003,
            "src/relay_caller/core/manifest_client.py",
            '"dependencies": declared_peers(settings)',
            '"dependencies": []',
            "dependencies",
        ),
        (
            "problems without retryable",
            CP001,
            "src/relay_caller/core/errors.py",
            '"retryable"',
            '"transient"',
            "retryable",
        ),
    ],
)
def test_each_break_is_named(
    world: World, tmp_path: Path, name: str, check: type, file: str, old: str | None, new: str | None, says: str
) -> None:
    project = _copy(world, tmp_path)
    if old is None:
        (project / file).unlink()
    else:
        assert new is not None
        _edit(project / file, old, new)
    message = check().check(load_project(project))
    assert message and says in message, (name, message)
