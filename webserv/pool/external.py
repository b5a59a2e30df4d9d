"""The ``url`` backend: sites that already run elsewhere, such as a user's WebArena deployment.

There is no pool and no isolation: every lease of a site is on the same deployment, and a
reset restores nothing but what the site's ``on_reset`` hook restores. Leases still expire
and are counted, so the runtime treats these sites like pooled ones.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from webserv.pool.backends.base import Instance
from webserv.pool.health import NotReady, wait_healthy
from webserv.pool.manager import InstanceStatus, Lease, PoolStatus, SiteStatus, UnknownLease
from webserv.sites.plugin import Site


@dataclass
class ExternalSite:
    """One deployment: the site it runs and its base URL."""

    site: Site
    url: str


class ExternalSites:
    """Hands out leases on deployments that are already running."""

    name = "url"

    def __init__(
        self, sites: list[ExternalSite], *, owner: str = "default", lease_ttl_s: float = 600.0
    ) -> None:
        self.sites = {entry.site.name: entry for entry in sites}
        self.owner = owner
        self.lease_ttl_s = lease_ttl_s
        self._leases: dict[str, Lease] = {}
        self._client = httpx.AsyncClient(timeout=30.0)
        self.counters = {"leased": 0, "resets": 0}

    async def start(self) -> None:
        """Check that every deployment answers its health URL."""

        async def check(entry: ExternalSite) -> None:
            url = entry.url.rstrip("/") + entry.site.spec.health_path
            try:
                await wait_healthy(
                    self._client, url, min(entry.site.spec.ready_timeout_s, 30.0), interval_s=0.5
                )
            except NotReady as err:
                message = f"site {entry.site.name} at {entry.url} is not reachable: {err}"
                raise NotReady(message) from err

        await asyncio.gather(*(check(entry) for entry in self.sites.values()))

    async def close(self) -> None:
        self._leases.clear()
        await self._client.aclose()

    def _entry(self, site: str) -> ExternalSite:
        if site not in self.sites:
            raise KeyError(f"unknown site {site!r}; served by url: {', '.join(self.sites)}")
        return self.sites[site]

    def _lease(self, entry: ExternalSite, ttl_s: float | None, group: str | None) -> Lease:
        parts = urlsplit(entry.url)
        instance = Instance(
            id=f"url-{entry.site.name}",
            site=entry.site.name,
            backend=self.name,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            data_dir=Path(os.devnull),
            handle="",
            url=entry.url.rstrip("/"),
        )
        ttl = ttl_s or self.lease_ttl_s
        lease = Lease(uuid.uuid4().hex, instance, time.monotonic() + ttl, ttl, group)
        self._leases[lease.id] = lease
        self.counters["leased"] += 1
        return lease

    async def _reset(self, entry: ExternalSite) -> None:
        await entry.site.on_reset(entry.url, self._client)
        self.counters["resets"] += 1

    async def acquire(self, site: str, ttl_s: float | None = None) -> Lease:
        entry = self._entry(site)
        await self._reset(entry)
        return self._lease(entry, ttl_s, None)

    async def acquire_group(self, site: str, n: int, ttl_s: float | None = None) -> list[Lease]:
        if n < 1:
            raise ValueError("a group needs at least one instance")
        entry = self._entry(site)
        await self._reset(entry)
        group = uuid.uuid4().hex[:12]
        return [self._lease(entry, ttl_s, group) for _ in range(n)]

    def renew(self, lease_id: str, ttl_s: float | None = None) -> Lease:
        return self.lease(lease_id).renew(ttl_s)

    def lease(self, lease_id: str) -> Lease:
        lease = self._leases.get(lease_id)
        if lease is None or lease.expires_at < time.monotonic():
            self._leases.pop(lease_id, None)
            raise UnknownLease(lease_id)
        return lease

    async def release(self, lease_id: str) -> None:
        if self._leases.pop(lease_id, None) is None:
            raise UnknownLease(lease_id)

    def status(self) -> PoolStatus:
        now = time.monotonic()
        live = [lease for lease in self._leases.values() if lease.expires_at >= now]
        return PoolStatus(
            owner=self.owner,
            backend=self.name,
            snapshot_driver="none",
            pid=os.getpid(),
            max_instances=len(self.sites),
            min_free_memory_bytes=0,
            available_memory_bytes=psutil.virtual_memory().available,
            sites={
                name: SiteStatus(
                    standby=0,
                    standby_target=0,
                    leased=sum(1 for lease in live if lease.instance.site == name),
                    launching=0,
                )
                for name in self.sites
            },
            instances=[
                InstanceStatus(
                    id=lease.instance.id,
                    site=lease.instance.site,
                    url=lease.url,
                    state="leased",
                    lease=lease.id,
                    expires_in_s=round(lease.expires_at - now, 1),
                )
                for lease in live
            ],
            counters=dict(self.counters),
        )
