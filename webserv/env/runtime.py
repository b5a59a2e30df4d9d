"""EnvRuntime: what every env of a process shares, the sites it serves and the browser.

The runtime serves a list of sites (:class:`SiteConfig`), each on its backend: pooled sites
(``process``, ``docker``) get warm standby instances over copy-on-write clones of their
golden data, one :class:`PoolManager` per backend; ``url`` sites are deployments that
already run. Tasks name WebArena sites (``shopping``, ``gitlab``, ...); the runtime says
which served site answers each name (a site's own name or one of its aliases). It is async
and lives on one event loop; the sync Gymnasium env runs it on a background loop (see
:mod:`webserv.env.loop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import Protocol

from webserv.browser.session import BrowserPool
from webserv.env.config import RuntimeConfig, SiteConfig, runtime_for
from webserv.env.login import session_client
from webserv.env.warm import Warmer
from webserv.pool.backends.base import Backend
from webserv.pool.external import ExternalSite, ExternalSites
from webserv.pool.golden import ensure_golden
from webserv.pool.manager import Lease, PoolManager, PoolSite, PoolStatus, UnknownLease
from webserv.pool.snapshot import SnapshotStore
from webserv.sites import registry
from webserv.sites.plugin import Site
from webserv.sites.spec import SiteAlias


class SiteProvider(Protocol):
    """Where leases of a site come from: a :class:`PoolManager` or :class:`ExternalSites`."""

    async def acquire(self, site: str, ttl_s: float | None = None) -> Lease: ...

    async def acquire_group(self, site: str, n: int, ttl_s: float | None = None) -> list[Lease]: ...

    def renew(self, lease_id: str, ttl_s: float | None = None) -> Lease: ...

    async def release(self, lease_id: str) -> None: ...

    def status(self) -> PoolStatus: ...


class UnservedSite(KeyError):
    """A task names a site this runtime does not serve."""

    def __str__(self) -> str:
        return str(self.args[0])


#: Each task site name (``shopping``) to the served site answering it and its alias.
TaskSites = dict[str, tuple[str, SiteAlias]]


def task_site_map(sites: Iterable[Site]) -> TaskSites:
    """For each task site name, the served site answering it and how (path, login role).

    A site's own name wins over another site's alias; two aliases of the same name are an
    error (serve one of the two sites)."""
    mapping: TaskSites = {}
    own = {site.name for site in sites}
    for site in sites:
        for name, alias in site.served_names().items():
            if name in own and name != site.name:
                continue
            if name in mapping and mapping[name][0] != site.name:
                raise ValueError(
                    f"sites {mapping[name][0]} and {site.name} both serve {name!r}; serve one"
                )
            mapping[name] = (site.name, alias)
    return mapping


class EnvRuntime:
    """The site instances and the browser that the envs of one process share."""

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or RuntimeConfig()
        self.sites: dict[str, Site] = {}
        for site_config in self.config.sites:
            site = registry.get(site_config.name)
            if site_config.backend not in site.backends:
                raise ValueError(
                    f"site {site.name} runs on {', '.join(site.backends)}, "
                    f"not on {site_config.backend}"
                )
            self.sites[site.name] = site
        self.task_sites = task_site_map(self.sites.values())
        self.browsers = BrowserPool(
            build=self.config.browser, merge_memory=self.config.merge_memory
        )
        self.http = session_client()
        #: Prepares the next episode start of each pooled standby instance (None: off).
        self.warmer = (
            Warmer(self.sites, self.browsers, self.http) if self.config.warm_starts else None
        )
        self.providers: dict[str, SiteProvider] = {}
        self.goldens: dict[str, str] = {}
        self._pools: list[PoolManager] = []
        self._backends: list[Backend] = []
        self._external: ExternalSites | None = None

    async def __aenter__(self) -> EnvRuntime:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def served(self) -> list[str]:
        """The names of the sites this runtime serves."""
        return list(self.sites)

    def site_config(self, name: str) -> SiteConfig:
        return self.config.site(name)

    async def start(self) -> EnvRuntime:
        """Make sure the golden data exists, start the pools and the browser (none without a
        site: a server of recorded sessions only)."""
        warm = [self._warm_browser()] if self.sites else []
        try:
            await asyncio.gather(self._start_sites(), *warm)
        except BaseException:
            await self.close()
            raise
        return self

    async def _start_sites(self) -> None:
        config = self.config
        owner = config.owner or f"env{os.getpid()}"
        by_backend: dict[str, list[SiteConfig]] = {}
        for site_config in config.sites:
            by_backend.setdefault(site_config.backend, []).append(site_config)
        if external := by_backend.pop("url", None):
            self._external = ExternalSites(
                [ExternalSite(self.sites[s.name], s.url or "") for s in external], owner=owner
            )
            await self._external.start()
            for s in external:
                self.providers[s.name] = self._external
        if not by_backend:
            return
        store = await asyncio.to_thread(SnapshotStore, config.snapshot_root, config.snapshot_driver)
        for backend_name, site_configs in by_backend.items():
            pool_sites = []
            for s in site_configs:
                site = self.sites[s.name]
                golden = await asyncio.to_thread(
                    ensure_golden, store, site, s.golden or None, s.golden_source
                )
                self.goldens[s.name] = golden
                pool_sites.append(
                    PoolSite(
                        spec=site.spec,
                        golden=golden,
                        standby=s.standby,
                        max_instances=s.max_instances,
                        after_launch=site.after_launch,
                    )
                )
            backend = await asyncio.to_thread(
                self._backend, backend_name, owner, [self.sites[s.name] for s in site_configs]
            )
            self._backends.append(backend)
            # One owner per backend, so a restarted runtime reconciles each backend's own.
            pool = PoolManager(
                backend,
                store,
                pool_sites,
                owner=owner if backend_name == "process" else f"{owner}.{backend_name}",
                max_instances=config.max_instances,
            )
            self._pools.append(pool)
            await pool.start()
            if self.warmer is not None:
                self.warmer.watch(pool)
            for s in site_configs:
                self.providers[s.name] = pool
        await asyncio.gather(
            *(
                pool.wait_standby(max(s.spec.ready_timeout_s for s in pool.sites.values()))
                for pool in self._pools
            )
        )

    def _backend(self, name: str, owner: str, sites: list[Site]) -> Backend:
        preload = {site.name: list(site.preload) for site in sites if site.preload}
        if name == "process":
            from webserv.pool.backends.process import ProcessBackend

            return ProcessBackend(
                owner=owner, preload=preload, merge_memory=self.config.merge_memory
            )
        from webserv.pool.backends.docker import DockerBackend, docker_client
        from webserv.pool.images.build import ensure_site_image

        # The docker backend needs each site's image: webserv's own are built if absent.
        client = docker_client()
        for site in sites:
            assert site.spec.image is not None  # the site lists docker among its backends
            ensure_site_image(client, site.name, site.spec.image)
        return DockerBackend(
            owner=f"{owner}.docker",
            runtimes=self.config.docker_runtimes,
            preload=preload,
            merge_memory=self.config.merge_memory,
        )

    async def _warm_browser(self) -> None:
        """Launch Chromium now rather than in the first reset."""
        context, chromium = await self.browsers.new_context()
        await context.close()
        await self.browsers.release(chromium)

    # -- what tasks name ---------------------------------------------------------------

    def resolve(self, task_site: str) -> tuple[Site, SiteAlias]:
        """The served site answering a task's site name, and the alias it answers with."""
        if task_site not in self.task_sites:
            raise UnservedSite(
                f"no served site answers {task_site!r}; this runtime serves "
                f"{', '.join(self.served)} (names: {', '.join(sorted(self.task_sites))})"
            )
        name, alias = self.task_sites[task_site]
        return self.sites[name], alias

    def sites_of(self, task_sites: Iterable[str]) -> list[str]:
        """The distinct served sites a task with these site names needs, in order."""
        return list(dict.fromkeys(self.resolve(name)[0].name for name in task_sites))

    # -- leases ------------------------------------------------------------------------

    def _provider(self, site: str) -> SiteProvider:
        if site not in self.providers:
            raise RuntimeError(f"site {site} is not started (call start() first)")
        return self.providers[site]

    async def acquire(self, site: str, ttl_s: float | None = None) -> Lease:
        return await self._provider(site).acquire(site, ttl_s)

    async def acquire_group(self, site: str, n: int, ttl_s: float | None = None) -> list[Lease]:
        return await self._provider(site).acquire_group(site, n, ttl_s)

    async def acquire_sets(self, sites: list[str], n: int) -> list[dict[str, Lease]]:
        """``n`` sets of instances, one of each site, each site's from identical state (a
        GRPO group of tasks on several sites); all or none."""
        got = await asyncio.gather(
            *(self.acquire_group(site, n) for site in sites), return_exceptions=True
        )
        failed = [g for g in got if isinstance(g, BaseException)]
        if failed:
            for leases in got:
                if not isinstance(leases, BaseException):
                    for lease in leases:
                        with contextlib.suppress(UnknownLease):
                            await self.release(lease)
            raise failed[0]
        per_site = [g for g in got if not isinstance(g, BaseException)]
        return [
            {site: leases[i] for site, leases in zip(sites, per_site, strict=True)}
            for i in range(n)
        ]

    def renew(self, lease: Lease, ttl_s: float | None = None) -> Lease:
        return self._provider(lease.instance.site).renew(lease.id, ttl_s)

    async def release(self, lease: Lease) -> None:
        await self._provider(lease.instance.site).release(lease.id)

    def isolated(self, site: str) -> bool:
        """Whether each lease of ``site`` is an instance of its own (not a shared deployment)."""
        return self.site_config(site).backend != "url"

    def status(self) -> list[PoolStatus]:
        """One status per backend: the pools, and the deployments of the url backend."""
        providers: list[SiteProvider] = [*self._pools]
        if self._external is not None:
            providers.append(self._external)
        return [provider.status() for provider in providers]

    async def close(self) -> None:
        pools, self._pools = self._pools, []
        await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)
        if self.warmer is not None:
            await self.warmer.close()
        backends, self._backends = self._backends, []
        for backend in backends:
            await backend.close()
        if self._external is not None:
            await self._external.close()
            self._external = None
        self.providers.clear()
        await self.browsers.close()
        await self.http.aclose()


__all__ = ["EnvRuntime", "RuntimeConfig", "SiteConfig", "UnservedSite", "runtime_for"]
