"""Fixtures for the checker tests, on top of the session-wide ``rendered_project``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def broken_copy(rendered_project: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """``broken_copy(tier)``: a private copy of a rendered project to break on purpose.

    The copy has no environment of its own; checks run with the original render's
    interpreter, and the probe puts the copy's ``src`` first on the path, so the copy's
    code is what gets checked.
    """

    def make(tier: str) -> Path:
        source = rendered_project(tier)
        dest = tmp_path / source.name
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
        return dest

    return make


SRC = Path(__file__).resolve().parents[2] / "src"
ChoraCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def chora_cli() -> ChoraCli:
    """``chora_cli(*args)``: run ``chora-base`` as CI does, in its own process.

    This checkout's ``src`` goes first on PYTHONPATH so the code under test is what runs,
    installed or not; GITHUB_STEP_SUMMARY is dropped so no test writes to a real summary.
    """

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p),
        }
        env.pop("GITHUB_STEP_SUMMARY", None)
        return subprocess.run(
            [sys.executable, "-m", "chora_base.cli", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=env,
        )

    return run
