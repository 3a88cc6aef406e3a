"""Fixtures for the update tests: one versioned template repository per module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.update.harness import REPO, make_template_repo

# The repository's tooling package (chora_base) is importable when the repository is
# installed; from a bare checkout, put its source folder on the path.
if importlib.util.find_spec("chora_base") is None:
    sys.path.insert(0, str(REPO / "src"))


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree's template in a fresh git repository, tagged v0.1.0 and v0.2.0."""
    return make_template_repo(tmp_path_factory.mktemp("template") / "chora-base")
