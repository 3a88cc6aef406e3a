"""Fixtures for the checker tests, on top of the session-wide ``rendered_project``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def broken_copy(
    rendered_project: Callable[[str], Path], tmp_path: Path
) -> Callable[[str], Path]:
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

