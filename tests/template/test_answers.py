"""Bad answers are refused at the prompt with a message saying what is allowed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.render import REPO, copier_cmd

BAD_ANSWERS = [
    ("project_name", "My Server", "lower-case letters"),
    ("project_name", "9lives", "starting with a letter"),
    ("package_name", "os", "standard library"),
    ("package_name", "json", "standard library"),
    ("package_name", "class", "keyword"),
    ("package_name", "my-pkg", "valid Python identifier"),
    ("package_name", "fastapi", "shadow a dependency"),
    ("cli_name", "My CLI", "lower-case letters"),
    ("project_name", "a" * 51, "50 characters"),
    ("package_name", "p" * 51, "50 characters"),
    ("cli_name", "c" * 51, "50 characters"),
    ("description", 'say "hi"', "double quotes"),
    ("author_email", "nobody", "e-mail address"),
    ("tier", "expert", "essential"),
    ("python_version", "2.7", "3.11"),
]


def _copy(data: str, dest: Path) -> subprocess.CompletedProcess[str]:
    """A plain `copier copy` of this checkout with one answer given, the rest defaults."""
    argv = [*copier_cmd(), "copy", "--defaults", "--vcs-ref", "HEAD", "--data", data, str(REPO), str(dest)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused(question: str, answer: str, message: str, tmp_path: Path) -> None:
    proc = _copy(f"{question}={answer}", tmp_path / "out")
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-1500:]
    assert not (tmp_path / "out" / "pyproject.toml").exists()


def test_rendering_needs_no_trust(tmp_path: Path) -> None:
    """No tasks, migrations with code, or Jinja extensions: a plain copy must succeed."""
    proc = _copy("tier=advanced", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
