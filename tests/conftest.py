"""Session-wide fixtures: each tier is rendered and installed once and shared by all tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.render import install, render


@pytest.fixture(scope="session")
def rendered_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`rendered_project(tier)`: a freshly rendered, installed project. Treat it as read-only;
    copy it (`shutil.copytree`) before changing anything."""
    cache: dict[str, Path] = {}

    def get(tier: str) -> Path:
        if tier not in cache:
            dest = tmp_path_factory.mktemp(f"rendered-{tier}") / "notes-server"
            render(tier, dest)
            install(dest)
            cache[tier] = dest
        return cache[tier]

    return get
