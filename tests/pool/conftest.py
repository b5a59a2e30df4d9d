"""Fixtures of the pool tests: stores over the small shop, one process backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from webserv.pool.backends.process import ProcessBackend
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site


def store_at(root: Path, driver: str, source: Path) -> SnapshotStore:
    """A store at ``root`` using ``driver`` with golden ``shop`` made from ``source``."""
    store = SnapshotStore(root, driver)
    store.create_golden("shop", source, replace=True)
    return store


@pytest.fixture
def copy_store(tmp_path: Path, shop_golden: Path) -> SnapshotStore:
    return store_at(tmp_path / "store", "copy", shop_golden)


@pytest.fixture(scope="session")
async def process_backend(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ProcessBackend]:
    """One process backend (one zygote) for the session; tests run one manager at a time."""
    backend = ProcessBackend(
        owner="pooltest",
        state_dir=tmp_path_factory.mktemp("pool-state"),
        preload={"shop": list(get_site("shop").preload)},
    )
    yield backend
    for leftover in await backend.owned(backend.owner):  # left by a failed test
        await backend.stop(leftover)
    await backend.close()
