"""Fixtures of the server tests: a real Redis, and one that can go down and come back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.serving import RedisProcess, redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of its own on a free port, without persistence."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def flaky_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess` for one test, stopped at its end whatever it did."""
    server = RedisProcess(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
