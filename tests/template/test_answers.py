"""Every answer renders a working project, or is refused with one line saying what to change.

Odd answers go into the tables below (a row each), not into new tests.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from chora_base.reserved_names import read_current, render_and_collect
from tests.helpers.render import REPO, copier_cmd, install, run_in

# (answers, words the refusal must contain)
BAD_ANSWERS = [
    ({"project_name": "9lives"}, "starting with a letter"),
    ({"project_name": "日本語"}, 'gives the project slug ""'),
    ({"project_name": "Json"}, 'gives the package name "json"'),
    ({"project_name": "Starlette"}, "a package the project installs"),
    ({"project_name": "   "}, "Write a project name"),
    ({"project_name": "tab\there"}, "control characters"),
    ({"project_slug": "click"}, "a package the project installs"),
    ({"project_slug": "My Server"}, "lower-case letters"),
    ({"project_slug": "a" * 51}, "50 characters"),
    ({"package_name": "os"}, "standard library"),
    ({"package_name": "json"}, "standard library"),
    ({"package_name": "_thread"}, "standard library"),
    ({"package_name": "class"}, "keyword"),
    ({"package_name": "my-pkg"}, "valid Python identifier"),
    ({"package_name": "fastapi"}, "shadow a dependency"),
    ({"package_name": "starlette"}, "shadow a dependency"),
    ({"package_name": "anyio"}, "shadow a dependency"),
    ({"package_name": "sniffio"}, "shadow a dependency"),
    ({"package_name": "yaml"}, "shadow a dependency"),  # pre-commit's, a development dependency
    ({"package_name": "tests"}, "shadow a dependency"),
    ({"package_name": "p" * 51}, "50 characters"),
    ({"cli_name": "My CLI"}, "lower-case letters"),
    ({"cli_name": "c" * 51}, "50 characters"),
    ({"cli_name": "python"}, "already has"),  # would replace the project's own interpreter
    ({"cli_name": "pytest"}, "already has"),
    ({"cli_name": "test"}, "already has"),  # a shell builtin: `test serve` would run it
    ({"package_name": "test"}, "standard library"),
    ({"project_name": "test"}, "standard library"),
    ({"description": "two\nlines"}, "on one line"),
    ({"description": "x" * 501}, "500 characters"),
    ({"project_name": "N" * 51}, "50 characters"),
    ({"author_name": ""}, "Write an author name"),
    ({"author_email": "nobody"}, "e-mail address"),
    ({"tier": "expert"}, "essential"),
    ({"python_version": "2.7"}, "3.11"),
    ({"copyright_year": "26"}, "a year like"),
]

# Answers that must render into valid TOML and Python carrying them unchanged, lint-clean.
ODD_ANSWERS = [
    {"project_name": "My Notes Server"},
    {"project_name": "📝" * 50, "project_slug": "emoji-notes"},  # 50 characters, all double-width
    {"project_name": '"' * 50, "project_slug": "quotes"},  # 50 characters, all escaped
    {"project_name": "Café Notes ✨", "description": "Keeps notes 📝 and ideas 🧠, even 𝄞 outside the BMP"},
    {"description": 'Say "hi", \\n is not a newline, \\ alone, """ and \'\'\' too\\'},
    {"description": "<b>Tags</b> & 'quotes' stay as typed"},
    {"description": " ".join(["全角の説明文です"] * 14)},  # double-width characters, wrapped
    {"description": "A " + "w" * 150 + " word longer than any line"},
    {"author_name": 'Renée "Ren" O\'Brien \\ Jr.', "author_email": 'ren+"x"@example.com'},
    {"project_name": "json", "package_name": "json_tools"},
    {"project_name": "Notes", "project_slug": "notes-api", "package_name": "notes_core", "cli_name": "notes"},
]

LICENSES = [
    ("MIT", "MIT License"),
    ("Apache-2.0", "Apache License"),
    ("BSD-3-Clause", "BSD 3-Clause License"),
]


def _copy(answers: dict[str, str], dest: Path, *, defaults: bool = True) -> subprocess.CompletedProcess[str]:
    """`copier copy` of this checkout with `answers` (from a data file, so no shell or YAML quoting
    changes them), the rest defaults."""
    data = dest.parent / f"{dest.name}-answers.yml"
    data.write_text(yaml.safe_dump(answers, allow_unicode=True), encoding="utf-8")
    argv = [*copier_cmd(), "copy", "--vcs-ref", "HEAD", "--data-file", str(data), str(REPO), str(dest)]
    if defaults:
        argv.insert(argv.index("copy") + 1, "--defaults")
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _lint(project: Path) -> None:
    ruff = str(Path(sys.executable).with_name("ruff"))
    for args in (["check"], ["format", "--check"]):
        proc = subprocess.run([ruff, *args, ".", "--no-cache"], cwd=project, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _literal(module: Path, name: str) -> object:
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not in {module}")


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=lambda v: str(v)[:40])
def test_bad_answer_is_refused(answers: dict[str, str], message: str, tmp_path: Path) -> None:
    proc = _copy(answers, tmp_path / "out")
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-1500:]
    assert not (tmp_path / "out" / "pyproject.toml").exists()


@pytest.mark.parametrize("answers", ODD_ANSWERS, ids=lambda v: str(v)[:40])
def test_odd_answer_renders_valid_lint_clean_files(answers: dict[str, str], tmp_path: Path) -> None:
    proc = _copy({**answers, "tier": "advanced"}, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-2000:]
    project = tmp_path / "out"
    rendered = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    for key, value in answers.items():
        assert rendered[key] == value, key
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["name"] == rendered["project_slug"]
    assert meta["description"] == rendered["description"]
    assert meta["authors"] == [{"name": rendered["author_name"], "email": rendered["author_email"]}]
    package = project / "src" / rendered["package_name"]
    assert _literal(package / "core" / "about.py", "NAME") == rendered["project_name"]
    assert _literal(package / "core" / "about.py", "DESCRIPTION") == rendered["description"]
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert " ".join(docstring.split("\n\n")[0].split()) == " ".join(rendered["description"].split())
    info = json.loads((project / "openapi.json").read_text(encoding="utf-8"))["info"]
    assert (info["title"], info["description"]) == (rendered["project_name"], rendered["description"])
    _lint(project)


def test_human_name_is_slugged_into_every_derived_name(tmp_path: Path) -> None:
    assert _copy({"project_name": "My Notes Server"}, tmp_path / "out").returncode == 0
    rendered = yaml.safe_load((tmp_path / "out" / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert (rendered["project_slug"], rendered["package_name"], rendered["cli_name"]) == (
        "my-notes-server",
        "my_notes_server",
        "my-notes-server",
    )


@pytest.mark.parametrize(("license_id", "heading"), LICENSES)
def test_license_file_names_the_licence_author_and_year(license_id: str, heading: str, tmp_path: Path) -> None:
    answers = {"license": license_id, "author_name": "Ada Lovelace", "copyright_year": "2031"}
    assert _copy(answers, tmp_path / "out").returncode == 0
    text = (tmp_path / "out" / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith(heading) and text.endswith(".\n") and not text.endswith("\n\n")
    assert re.search(r"Copyright (\(c\) )?2031,? Ada Lovelace", text), text[:300]
    assert tomllib.loads((tmp_path / "out" / "pyproject.toml").read_text())["project"]["license"] == license_id


def test_proprietary_project_has_no_license_file(tmp_path: Path) -> None:
    assert _copy({"license": "Proprietary"}, tmp_path / "out").returncode == 0
    assert not (tmp_path / "out" / "LICENSE").exists()
    assert "license" not in tomllib.loads((tmp_path / "out" / "pyproject.toml").read_text())["project"]


def test_human_name_and_emoji_give_green_tests_lint_and_checker(tmp_path: Path) -> None:
    answers = {
        "project_name": 'My """Notes""" \\ Server',  # quotes and a backslash: the client's docstring holds it
        "description": "Keeps notes 📝 for “everyone” — even 𝄞",
        "author_name": 'Zoë "Z" \\ Example',
        "tier": "advanced",
    }
    proc = _copy(answers, tmp_path / "my-notes-server")
    assert proc.returncode == 0, proc.stderr[-2000:]
    project = tmp_path / "my-notes-server"
    install(project)
    tests = run_in(project, "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and " skipped" not in tests.stdout
    shown = run_in(project, "my-notes-server", "--help")
    assert shown.returncode == 0 and "📝" in shown.stdout and "𝄞" in shown.stdout, shown.stderr[-2000:]
    for args in (["check", "."], ["format", "--check", "."]):
        lint = run_in(project, "ruff", *args)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PYTHONPATH"] = str(REPO / "src")
    check = subprocess.run(
        [sys.executable, "-m", "chora_base.cli", "check", str(project)], capture_output=True, text=True, env=env
    )
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]


def test_reserved_names_cover_a_fresh_advanced_install() -> None:
    """The names package_name and project_slug may not take come from a real install; a new
    dependency anywhere in the closure (or a standard-library module of this Python) makes this
    fail until `python -m chora_base.reserved_names` is run again. Names only other Pythons or
    platforms install stay reserved."""
    current, fresh = read_current(), render_and_collect(vcs_ref=None)
    for key in ("stdlib", "import_names", "distributions"):
        missing = set(fresh[key]) - set(current[key])
        assert not missing, f"{key} lacks {sorted(missing)}: run python -m chora_base.reserved_names"
    assert {"starlette", "anyio", "click", "uvicorn", "pytest", "yaml"} <= set(current["import_names"])


class _Terminal:
    """A program on a pseudo-terminal, as a person at a keyboard sees it."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a wide terminal, so whole messages show, then the program
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
            os.environ["TERM"] = "xterm"
            os.execvp(argv[0], argv)
        self.screen, self.seen = "", 0

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """Read until `text` appears after the last text waited for (escape codes removed);
        fail with the screen if it never does."""
        deadline = time.monotonic() + timeout
        while text not in self.screen[self.seen :]:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.fd, 65536) if ready else b""
            assert chunk, f"{text!r} never appeared; screen:\n{self.screen[-3000:]}"
            self.screen += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", chunk.decode(errors="replace"))
        self.seen = self.screen.index(text, self.seen) + len(text)
        return self.screen

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exit_code(self) -> int:
        try:  # drain, so the program never blocks writing to a full terminal
            while select.select([self.fd], [], [], 30)[0] and os.read(self.fd, 65536):
                pass
        except OSError:  # the child closed the terminal
            pass
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def test_interactive_refused_name_asks_again_instead_of_ending_the_session(tmp_path: Path) -> None:
    """A project name whose derived package name is refused is re-asked with the reason; the
    session goes on (Copier validates derived defaults and would otherwise abort with a trace)."""
    data = tmp_path / "rest.yml"
    data.write_text(yaml.safe_dump({"tier": "essential", "license": "MIT", "python_version": "3.11"}))
    dest = tmp_path / "out"
    term = _Terminal([*copier_cmd(), "copy", "--vcs-ref", "HEAD", "--data-file", str(data), str(REPO), str(dest)])
    kill_line = "\x15"  # Ctrl-U: clear the pre-filled default
    term.wait_for("Project name")
    term.type(kill_line + "Json\r")
    screen = term.wait_for('gives the package name "json"')
    assert "Traceback" not in screen
    term.type(kill_line + "Json Notes\r")
    for question in ("Distribution name", "package name", "Command-line", "description", "Author name", "e-mail"):
        term.wait_for(question)
        term.type("\r")
    term.wait_for("Copyright year")
    term.type("\r")
    term.wait_for("ready")
    assert term.exit_code() == 0, term.screen[-3000:]
    rendered = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert (rendered["project_name"], rendered["package_name"]) == ("Json Notes", "json_notes")


def test_rendering_needs_no_trust(tmp_path: Path) -> None:
    """No tasks, migrations with code, or Jinja extensions: a plain copy must succeed."""
    proc = _copy({"tier": "advanced"}, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
