"""Run the behaviour probe in the project's own interpreter and keep its answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from chora_base.checker.project import ProjectInfo

PROBE_SCRIPT = Path(__file__).with_name("_probe.py")
PROBE_TIMEOUT = 120.0


def _venv_python(venv: Path) -> Path | None:
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    return None


def default_python(root: Path) -> Path:
    """The interpreter the project runs in: its own ``.venv``, else the virtual environment
    the user activated (``VIRTUAL_ENV``: tox, nox, Poetry or a venv kept elsewhere), else the
    checker's own interpreter (a checker installed into the project's environment)."""
    active = os.environ.get("VIRTUAL_ENV")
    for venv in (root / ".venv", Path(active) if active else None):
        if venv is not None and (python := _venv_python(venv)):
            return python
    return Path(sys.executable)


class Probe:
    """Lazy probe result: runs on first access, so static-only runs never start Python.

    repo-review deep-copies fixtures before every check and compares them afterwards;
    sharing one instance (``__deepcopy__`` returns self) keeps the single run cached.
    """

    _proc: subprocess.Popen[str] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def __init__(self, project: ProjectInfo, python: Path | None = None) -> None:
        self.project = project
        # absolute(), not resolve(): a venv's python is a symlink to the base interpreter,
        # and following it would leave the venv (and its packages) behind. Absolute because
        # the probe runs with the project as working directory.
        self.python = (python or default_python(project.root)).absolute()
        self._data: dict[str, Any] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Probe:
        return self

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._run()
        return self._data

    @property
    def ran(self) -> bool:
        """True once a result exists (the probe ran, or was found unnecessary to run)."""
        return self._data is not None

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def fatal(self) -> str | None:
        """Why nothing at all could be probed, or None."""
        if "fatal" in self.data:
            return str(self.data["fatal"])
        imp = self.section("import")
        if not imp.get("ok"):
            return f"`import {self.project.package}` failed: {imp.get('error', 'unknown error')}"
        return None

    def start(self) -> None:
        """Start the probe now (it runs while the caller does other work); idempotent."""
        if self._proc is not None or self._data is not None:
            return
        project = self.project
        if not project.package:
            self._data = {
                "fatal": "no Python package found: no `package_name` in "
                ".copier-answers.yml and no console script pointing at "
                "`<package>.interfaces.cli:main` in pyproject.toml"
            }
            return
        cfg = {
            "root": str(project.root),
            "src": str(project.src_dir),
            "package": project.package,
            "cli_entry": project.cli_entry,
            "cli_name": project.cli_name,
            "tier": project.declared_tier,
        }
        self._tmp = tempfile.TemporaryDirectory(prefix="chora-probe-")
        out = Path(self._tmp.name) / "probe.json"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        try:
            self._proc = subprocess.Popen(
                [str(self.python), str(PROBE_SCRIPT), json.dumps(cfg), str(out)],
                cwd=project.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            self._data = {"fatal": f"could not run the probe with {self.python}: {exc}"}
            self._cleanup()

    def stop(self) -> None:
        """Abandon a started probe (e.g. the run failed on configuration)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._proc = None

    def _run(self) -> dict[str, Any]:
        self.start()
        if self._data is not None:  # start() already knows the answer
            return self._data
        assert self._proc is not None and self._tmp is not None
        proc, out = self._proc, Path(self._tmp.name) / "probe.json"
        try:
            _, stderr = proc.communicate(timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            return {"fatal": f"the probe under {self.python} did not finish within {PROBE_TIMEOUT:.0f} s"}
        try:
            data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = " | ".join(stderr.strip().splitlines()[-5:])
            return {"fatal": f"the probe failed under {self.python} (exit {proc.returncode}): {tail}"}
        finally:
            self._cleanup()
        data["interpreter"] = str(self.python)
        return data
