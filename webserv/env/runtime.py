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
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, Field, model_validator

from webserv.browser.session import BrowserPool
from webserv.pool.backends.base import Backend
from webserv.pool.external import ExternalSite, ExternalSites
from webserv.pool.golden import ensure_golden
from webserv.pool.manager import Lease, PoolManager, PoolSite, PoolStatus
from webserv.pool.snapshot import SnapshotStore
from webserv.sites import registry
from webserv.sites.plugin import Site
from webserv.sites.spec import SiteAlias
from webserv.tasks.suite import Suite

BackendName = Literal["process", "docker", "url"]
_SITE_ARG = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?::(?P<backend>process|docker|url)(?:=(?P<url>.+))?)?$")


class SiteConfig(BaseModel):
    """One site a runtime serves, on one backend."""

    name: str = Field(description="A registered site (`webserv site list`).")
    backend: BackendName = "process"
    url: str | None = Field(None, description="url backend: the deployment's base URL.")
    golden: dict[str, Any] = Field(
        default_factory=dict, description="Golden data parameters (a seeded site: seed, scale)."
    )
    golden_source: Path | None = Field(
        None, description="A data dir to store as the golden if it is not in the store yet."
    )
    standby: int = Field(1, ge=0, description="Ready instances kept warm.")
    max_instances: int | None = Field(None, ge=1, description="Instances of this site at most.")

    @model_validator(mode="after")
    def _url_backend_has_url(self) -> SiteConfig:
        if (self.backend == "url") != (self.url is not None):
            raise ValueError(f"site {self.name}: the url backend, and only it, takes a url")
        return self

    @classmethod
    def parse(cls, text: str, **defaults: Any) -> SiteConfig:
        """``NAME``, ``NAME:BACKEND`` or ``NAME:url=BASE_URL`` (the ``--site`` syntax)."""
        match = _SITE_ARG.match(text.strip())
        if match is None:
            raise ValueError(
                f"bad site {text!r}: use NAME, NAME:process, NAME:docker or NAME:url=BASE_URL"
            )
        values = {k: v for k, v in match.groupdict().items() if v is not None}
        return cls.model_validate({**defaults, **values})


class RuntimeConfig(BaseModel):
    """Which sites the runtime serves, where their snapshots live, and its limits."""

    sites: list[SiteConfig] = Field(default_factory=lambda: [SiteConfig(name="shop")])
    max_instances: int = Field(16, ge=1, description="Pooled instances per backend at most.")
    snapshot_root: Path | None = Field(None, description="Snapshot store root (default: auto).")
    snapshot_driver: str | None = Field(None, description="btrfs, reflink, overlay or copy.")
    docker_runtimes: int = Field(
        0, ge=0, description="Pre-started containers per docker site (0: a container per launch)."
    )
    owner: str | None = Field(
        None,
        description="Owner label of the instances (default: per process). A runtime started "
        "again with the same owner reconciles what the previous one left running.",
    )

    @model_validator(mode="after")
    def _sites_once(self) -> RuntimeConfig:
        names = [site.name for site in self.sites]
        if not names:
            raise ValueError("a runtime serves at least one site")
        if len(set(names)) != len(names):
            raise ValueError(f"a site is listed twice: {names}")
        return self

    def site(self, name: str) -> SiteConfig:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(f"this runtime does not serve {name!r}")


class SiteProvider(Protocol):
    """Where leases of a site come from: a :class:`PoolManager` or :class:`ExternalSites`."""

    async def acquire(self, site: str, ttl_s: float | None = None) -> Lease: ...

    async def acquire_group(
        self, site: str, n: int, ttl_s: float | None = None
    ) -> list[Lease]: ...

    def renew(self, lease_id: str, ttl_s: float | None = None) -> Lease: ...

    async def release(self, lease_id: str) -> None: ...

    def status(self) -> PoolStatus: ...


class UnservedSite(KeyError):
    """A task names a site this runtime does not serve."""

    def __str__(self) -> str:
        return str(self.args[0])


def task_site_map(sites: Iterable[Site]) -> dict[str, tuple[str, SiteAlias]]:
    """For each task site name, the served site answering it and how (path, login role).

    A site's own name wins over another site's alias; two aliases of the same name are an
    error (serve one of the two sites)."""
    mapping: dict[str, tuple[str, SiteAlias]] = {}
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
        self.browsers = BrowserPool()
        self.http = httpx.AsyncClient(timeout=30.0)
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
        """Make sure the golden data exists, start the pools and the browser."""
        try:
            await asyncio.gather(self._start_sites(), self._warm_browser())
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
            backend = self._backend(backend_name, owner, [self.sites[s.name] for s in site_configs])
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

            return ProcessBackend(owner=owner, preload=preload)
        from webserv.pool.backends.docker import DockerBackend

        return DockerBackend(
            owner=f"{owner}.docker", runtimes=self.config.docker_runtimes, preload=preload
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
        backends, self._backends = self._backends, []
        for backend in backends:
            close = getattr(backend, "close", None)
            if close is not None:
                await close()
        if self._external is not None:
            await self._external.close()
            self._external = None
        self.providers.clear()
        await self.browsers.close()
        await self.http.aclose()


def runtime_for(
    suite: Suite,
    sites: Sequence[str | SiteConfig] | None = None,
    runtime_config: RuntimeConfig | Mapping[str, Any] | None = None,
    **site_defaults: Any,
) -> RuntimeConfig:
    """The runtime a suite's tasks need: ``sites`` (``NAME[:BACKEND]`` or configs), else the
    runtime config's, else the suite's own; each with the golden data the answers came from."""
    if isinstance(runtime_config, RuntimeConfig):
        config = runtime_config
    else:
        values = dict(runtime_config or {})
        if sites is None and "sites" not in values:
            if not suite.manifest.sites:
                raise ValueError(
                    f"suite {suite.manifest.name} names no registered site: say which to serve"
                )
            sites = suite.manifest.sites
        if sites is not None:
            values["sites"] = [
                s if isinstance(s, SiteConfig) else SiteConfig.parse(s, **site_defaults)
                for s in sites
            ]
        config = RuntimeConfig.model_validate(values)
    checked = []
    for site in config.sites:
        golden = suite.manifest.golden.get(site.name, {})
        clash = {k: v for k, v in site.golden.items() if k in golden and golden[k] != v}
        if clash and site.backend != "url":
            raise ValueError(
                f"suite {suite.manifest.name} was made for {site.name} data {golden}, "
                f"the runtime serves {site.golden}"
            )
        checked.append(site.model_copy(update={"golden": {**golden, **site.golden}}))
    return config.model_copy(update={"sites": checked})
