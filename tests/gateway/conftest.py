"""One federation for the gateway tests: the registry, servers rendered from the template and
the gateway, each a real process on loopback, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.harness import World, start_world

SERVERS = ("alpha", "beta", "gamma", "delta")


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = start_world(tmp_path_factory.mktemp("gateway"), SERVERS, ("alpha", "beta", "gamma"))
    yield built
    built.stop()
