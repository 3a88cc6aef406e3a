"""The bootstrap SAP's static checks on small projects written here (BS005 and BS006 against a
real orchestrator and a running stack are in test_stack.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chora_base.checker.runner import run_checks


def _project(root: Path, table: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "search"\nversion = "0"\n{table}')
    return root


def _result(root: Path, check: str) -> tuple[str, str]:
    report = run_checks(root, select=[check])
    found = next(r for r in report.results if r.id == check)
    return found.status, found.message


@pytest.mark.parametrize(
    ("table", "status", "words"),
    [
        ("", "pass", ""),
        ('[tool.chora-base]\ndependencies = ["notes", "manifest-store"]\n', "pass", ""),
        ("[tool.chora-base]\ndependencies = []\n", "pass", ""),
        ('[tool.chora-base]\ndependencies = "notes"\n', "fail", "'notes'"),
        ('[tool.chora-base]\ndependencies = ["Notes Server"]\n', "fail", "'Notes Server'"),
        ('[tool.chora-base]\ndependencies = ["search"]\n', "fail", "'search'"),
        ("[tool.chora-base]\ndependencies = [3]\n", "fail", "3"),
    ],
    ids=["absent", "names", "empty", "not a list", "not a name", "itself", "not a string"],
)
def test_bs004_declared_dependencies(tmp_path: Path, table: str, status: str, words: str) -> None:
    got, message = _result(_project(tmp_path, table), "BS004")
    assert got == status, message
    assert words in message


def test_bs005_needs_an_orchestrator_for_a_stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    assert _result(root, "BS005")[0] == "pass"  # no stack file: nothing to validate
    (root / "stacks").mkdir()
    (root / "stacks" / "demo.yaml").write_text("name: demo\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no orchestrator anywhere
    status, message = _result(root, "BS005")
    assert status == "fail" and "bootstrap.py" in message, message
