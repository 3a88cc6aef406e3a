"""Fixtures shared by the template-owned tests. Template-owned: upgrade with `copier update`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drivers import running_server

from search.core.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings on a fresh, empty store."""
    for key in ("URL", "API_TOKEN", "REGISTRY_URL"):
        monkeypatch.delenv(f"SEARCH_{key}", raising=False)
    get_settings.cache_clear()
    yield Settings(data_dir=tmp_path / "data", api_token="test-token")
    get_settings.cache_clear()


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    with running_server(settings) as url:
        yield url
