"""Fixtures for the pool tests: a small seeded shop, stores per driver, a process backend."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from webserv.pool.backends.process import ProcessBackend
from webserv.pool.sites import PRELOAD, shop_spec
from webserv.pool.snapshot import SnapshotStore
from webserv.pool.snapshot.drivers import filesystem_type
from webserv.pool.spec import SiteSpec

BTRFS_ROOT = Path(os.environ.get("WEBSERV_BTRFS_ROOT", "/mnt/webserv-btrfs"))


def btrfs_available() -> bool:
    return os.path.ismount(BTRFS_ROOT) and filesystem_type(BTRFS_ROOT) == "btrfs"


needs_btrfs = pytest.mark.skipif(
    not btrfs_available(), reason=f"no btrfs mounted at {BTRFS_ROOT} (run scripts/services.sh)"
)


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout_s: float = 20.0) -> None:
    """Wait until ``condition()`` is true (it may be async), or fail the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
def pool_shop_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded shop data dir (never mutated: stores copy it into their golden)."""
    from webserv.sites.shop.seed import seed

    out = tmp_path_factory.mktemp("pool-shop") / "data"
    seed(out, seed=7, scale=0.02)
    return out


@pytest.fixture(scope="session")
def shop() -> SiteSpec:
    return shop_spec()


def store_at(root: Path, driver: str, source: Path) -> SnapshotStore:
    """A store at ``root`` using ``driver`` with golden ``shop`` made from ``source``."""
    store = SnapshotStore(root, driver)
    store.create_golden("shop", source, replace=True)
    return store


@pytest.fixture
def copy_store(tmp_path: Path, pool_shop_seed: Path) -> SnapshotStore:
    return store_at(tmp_path / "store", "copy", pool_shop_seed)


@pytest.fixture(scope="session")
async def process_backend(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ProcessBackend]:
    """One process backend (one zygote) for the session; tests run one manager at a time."""
    backend = ProcessBackend(
        owner="pooltest",
        state_dir=tmp_path_factory.mktemp("pool-state"),
        preload=PRELOAD,
    )
    yield backend
    for leftover in await backend.owned(backend.owner):  # left by a failed test
        await backend.stop(leftover)
    await backend.close()
