"""EnvRuntime: what every env of a process shares, the site pool and the browser.

The runtime owns a :class:`PoolManager` (process backend, snapshot store, warm standby
instances of the shop over the golden data a suite was generated from) and one
:class:`BrowserPool`. It is async and lives on one event loop; the sync Gymnasium env runs
it on a background loop (see :mod:`webserv.env.loop`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from pydantic import BaseModel, Field

from webserv.browser.session import BrowserPool
from webserv.pool.backends.process import ProcessBackend
from webserv.pool.golden import ensure_golden, golden_name
from webserv.pool.manager import PoolManager, PoolSite
from webserv.pool.sites import PRELOAD, shop_spec
from webserv.pool.snapshot import SnapshotStore
from webserv.pool.spec import SiteSpec


class RuntimeConfig(BaseModel):
    """Which golden data the shop instances start from, and how many stay warm."""

    seed: int = Field(42, description="Seed of the shop's golden data.")
    scale: float = Field(0.05, gt=0, description="Scale of the shop's golden data.")
    standby: int = Field(2, ge=0, description="Ready instances kept warm.")
    max_instances: int = Field(16, ge=1)
    snapshot_root: Path | None = Field(None, description="Snapshot store root (default: auto).")
    snapshot_driver: str | None = Field(None, description="btrfs, reflink, overlay or copy.")
    golden_source: Path | None = Field(
        None, description="An already seeded data dir to use instead of seeding one."
    )
    owner: str | None = Field(
        None,
        description="Owner label of the instances (default: per process). A runtime started "
        "again with the same owner reconciles what the previous one left running.",
    )


def prepare_golden(store: SnapshotStore, spec: SiteSpec, config: RuntimeConfig) -> str:
    """The golden snapshot for ``config``: from ``golden_source`` if given, else seeded once."""
    if config.golden_source is None:
        return ensure_golden(store, spec, config.seed, config.scale)
    name = golden_name(spec, config.seed, config.scale)
    if not store.has_golden(name):
        store.create_golden(name, config.golden_source)
    return name


class EnvRuntime:
    """The pool of shop instances and the browser that the envs of one process share."""

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or RuntimeConfig()
        self.spec = shop_spec()
        self.browsers = BrowserPool()
        self.http = httpx.AsyncClient(timeout=30.0)
        self.pool: PoolManager | None = None
        self._backend: ProcessBackend | None = None

    async def __aenter__(self) -> EnvRuntime:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> EnvRuntime:
        """Make sure the golden data exists, start the pool and the browser."""
        config = self.config
        store = await asyncio.to_thread(SnapshotStore, config.snapshot_root, config.snapshot_driver)
        golden = await asyncio.to_thread(prepare_golden, store, self.spec, config)
        owner = config.owner or f"env{os.getpid()}"
        self._backend = ProcessBackend(owner=owner, preload=PRELOAD)
        self.pool = PoolManager(
            self._backend,
            store,
            [PoolSite(spec=self.spec, golden=golden, standby=config.standby)],
            owner=owner,
            max_instances=config.max_instances,
        )
        await asyncio.gather(self.pool.start(), self._warm_browser())
        await self.pool.wait_standby(timeout_s=self.spec.ready_timeout_s)
        return self

    async def _warm_browser(self) -> None:
        """Launch Chromium now rather than in the first reset."""
        context, chromium = await self.browsers.new_context()
        await context.close()
        await self.browsers.release(chromium)

    def site_spec(self, pool_site: str) -> SiteSpec:
        if pool_site != self.spec.name:
            raise KeyError(f"this runtime serves {self.spec.name!r}, not {pool_site!r}")
        return self.spec

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if self._backend is not None:
            await self._backend.close()
            self._backend = None
        await self.browsers.close()
        await self.http.aclose()
