"""Every tier renders, installs, and passes its own test suite and lint."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.render import TIERS, install, render, run_in

LEFTOVER_JINJA = re.compile(r"\{\{|\{%|%\}|\{#")


def _files(project: Path) -> set[str]:
    skip = {".venv", ".data", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return {
        str(p.relative_to(project))
        for p in project.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(project).parts) and not p.name.endswith(".egg-info")
    }


def _assert_lint_clean(project: Path, ruff: str | None = None) -> None:
    """The project's own CI lint step: ruff's rules and ruff's formatting, as rendered.

    `ruff` is the program to run, the project's own by default; ruff reads the rendered
    configuration either way, so a project that is not installed can pass the test runner's.
    """
    program = ruff or str(project / ".venv" / "bin" / "ruff")
    for args in (["check"], ["format", "--check"]):
        proc = subprocess.run(
            [program, *args, ".", "--no-cache"], cwd=project, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("tier", TIERS)
def test_tier_passes_its_own_tests_and_lint(tier: str, rendered_project: Callable[[str], Path]) -> None:
    project = rendered_project(tier)
    tests = run_in(project, "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and " skipped" not in tests.stdout, tests.stdout[-500:]
    _assert_lint_clean(project)


@pytest.mark.parametrize("tier", TIERS)
def test_no_leftover_jinja(tier: str, rendered_project: Callable[[str], Path]) -> None:
    project = rendered_project(tier)
    leftovers = [f for f in _files(project) if LEFTOVER_JINJA.search((project / f).read_text())]
    assert not leftovers
    assert not [f for f in _files(project) if f.endswith(".jinja")]


def test_each_tier_is_a_strict_superset(rendered_project: Callable[[str], Path]) -> None:
    essential, recommended, advanced = (_files(rendered_project(t)) for t in TIERS)
    pkg = "src/notes_server"
    assert essential < recommended < advanced
    assert f"{pkg}/interfaces/mcp.py" in recommended - essential
    assert {"openapi.json", "docs/operations.md", ".pre-commit-config.yaml"} <= recommended - essential
    assert {f"{pkg}/interfaces/auth.py", f"{pkg}/core/metrics.py"} <= advanced - recommended


def test_other_answers_render_and_pass(tmp_path: Path) -> None:
    """Names, licence and description flow through every file, and the result still works."""
    project = render(
        "advanced",
        tmp_path / "inventory-hub",
        project_name="inventory-hub",
        package_name="inventory",
        cli_name="inv",
        license="Proprietary",
        description="Tracks what is on the shelves & where it's kept",
    )
    assert (project / "src" / "inventory" / "operations.py").is_file()
    pyproject = (project / "pyproject.toml").read_text()
    assert 'inv = "inventory.interfaces.cli:main"' in pyproject
    assert "license =" not in pyproject
    install(project)
    tests = run_in(project, "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    _assert_lint_clean(project)


@pytest.mark.parametrize("name", ["ab", "warehouse-inventory-reconciliation-server-ledger01"])
def test_name_lengths_render_lint_clean(name: str, tmp_path: Path) -> None:
    """The shortest and the longest (50-character) names, with a long description, still give
    code that passes the project's own ruff rules and formatting: names change line lengths,
    which is what the formatter and the E501 rule look at. No install is needed for this."""
    description = "Reconciles warehouse counts against the ledger, " * 5 + "and reports every discrepancy."
    project = render("advanced", tmp_path / "p", project_name=name, description=description)
    assert (project / "src" / name.replace("-", "_")).is_dir()
    _assert_lint_clean(project, ruff=str(Path(sys.executable).with_name("ruff")))


def test_python_version_answer_sets_requires_python(tmp_path: Path) -> None:
    project = render("essential", tmp_path / "p", python_version="3.12")
    assert 'requires-python = ">=3.12"' in (project / "pyproject.toml").read_text()
    assert 'target-version = "py312"' in (project / "pyproject.toml").read_text()
