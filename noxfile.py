"""Sessions for developing chora-base. `nox -s tests` is the whole suite (what CI runs)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests"]
ROOT = Path(__file__).parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _install(session: nox.Session, extras: str = "test,docs") -> None:
    session.install("-e", f".[{extras}]")


def _ruff(session: nox.Session) -> None:
    """Lint and formatting of the repository's own code (the template is checked by rendering it)."""
    paths = ["src", "tests", "bench", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Everything: template renders, checker, update, registry, docs; then lint."""
    _install(session)
    session.env.setdefault("UV_CACHE_DIR", str(ROOT / ".nox" / "uv-cache"))
    # Two workers (the CI machine has two cores); a file's tests stay on one worker, so each
    # session-scoped render or service is made at most once per worker.
    session.run("pytest", *(session.posargs or ["-q", "-n", "2", "--dist", "loadfile"]))
    _ruff(session)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the repository, and over a fresh render of each tier."""
    _install(session, "test")
    _ruff(session)
    session.run("pytest", "-q", "tests/template/test_rendered_projects.py", "-k", "lint or jinja")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Speed figures, printed and written to bench/results/."""
    _install(session, "test")
    if shutil.which("wrk") is None:  # the throughput benches' load generator (a C program)
        if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
            session.run("apt-get", "install", "-y", "-q", "wrk", external=True)
        else:
            session.error("wrk is missing: install it first (Debian: sudo apt-get install wrk)")
    # Every script in bench/ and its subfolders (bench/README.md lists them); _common.py is shared code.
    scripts = [*sorted((ROOT / "bench").glob("*.py")), *sorted((ROOT / "bench").glob("*/*.py"))]
    for script in scripts:
        if not script.name.startswith("_"):
            session.run("python", str(script))


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the SAP site strictly into site/."""
    _install(session)
    session.run("mkdocs", "build", "--strict")


@nox.session(python=PYTHON)
def contracts(session: nox.Session) -> None:
    """Regenerate the template's committed OpenAPI contract and operation reference."""
    _install(session, "test")
    session.run("python", "-m", "chora_base.contracts")


@nox.session(python=PYTHON)
def update_examples(session: nox.Session) -> None:
    """copier update every project in examples/ to the working tree's template."""
    _install(session, "test")
    session.run("python", "-m", "chora_base.examples")


@nox.session(python=PYTHON)
def quickstart(session: nox.Session) -> None:
    """Render ./my-server (Recommended tier) from this checkout, install it and serve it."""
    _install(session, "test")
    target = ROOT / "my-server"
    if not (target / "pyproject.toml").exists():
        answers = ["--data", "project_name=my-server", "--data", "tier=recommended"]
        session.run("copier", "copy", "--defaults", "--vcs-ref", "HEAD", *answers, str(ROOT), str(target))
    venv = target / ".venv"
    if not venv.exists():
        session.run("uv", "venv", "-q", "--python", sys.executable, str(venv))
    session.run("uv", "pip", "install", "-q", "-p", str(venv / "bin" / "python"), "-e", f"{target}[dev]")
    if os.environ.get("QUICKSTART_CHECK_ONLY"):  # used by the test of this command
        session.run(str(venv / "bin" / "my-server"), "--help")
        return
    # The server's default data folder is the project's per-user one, so the README's next CLI
    # command sees the same store from any directory.
    session.run(str(venv / "bin" / "my-server"), "serve")


@nox.session(python=PYTHON)
def generate_docs(session: nox.Session) -> None:
    """Regenerate the site's snippets from real renders, checker runs and examples/."""
    _install(session)
    session.run("python", "-m", "chora_base.docs.generate", *session.posargs)
