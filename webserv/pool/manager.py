"""PoolManager: warm standby instances per site, leases, recycling, admission control.

Every instance runs on its own port over its own clone of the site's golden snapshot.
``acquire`` hands over a ready standby instance at once (launching one only if none is
ready or on its way); ``release`` recycles in the background: stop, destroy the clone,
clone again from golden, launch, wait for health, back to standby. Admission control caps
the instance count and keeps a free-memory floor, answering :class:`PoolFull` instead of
over-committing. A health loop replaces dead instances; a reaper releases leases whose TTL
ran out; ``reconcile`` adopts the healthy, never handed out instances a previous manager
with the same owner left behind and removes everything else it left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import psutil
from pydantic import BaseModel

from webserv import paths
from webserv.pool.backends.base import Backend, Instance
from webserv.pool.health import NotReady, healthy, wait_healthy
from webserv.pool.pristine import PristineMarks
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.plugin import LaunchedInstance
from webserv.sites.spec import SiteSpec

log = logging.getLogger(__name__)

_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PoolFull(RuntimeError):
    """No instance can be handed out now without over-committing the host."""

    def __init__(self, message: str, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnknownLease(KeyError):
    """The lease id is not (or no longer) held."""

    def __str__(self) -> str:
        return f"unknown lease {self.args[0]!r} (released or expired)"


@dataclass
class PoolSite:
    """One site the pool serves: its spec, its golden snapshot, how many to keep warm, how
    many to run at most, and what to do once an instance is healthy (the site's hook)."""

    spec: SiteSpec
    golden: str
    standby: int = 2
    max_instances: int | None = None
    after_launch: Callable[[LaunchedInstance], Awaitable[None]] | None = None


@dataclass
class _Launched:
    """A healthy instance as a site's ``after_launch`` hook sees it."""

    instance: Instance
    runner: Backend

    @property
    def url(self) -> str:
        return self.instance.url

    @property
    def backend(self) -> str:
        return self.runner.name

    async def exec(self, argv: list[str]) -> str:
        return await self.runner.exec(self.instance, argv)


@dataclass
class Lease:
    """An instance handed to one user until released or ``expires_at`` (monotonic s)."""

    id: str
    instance: Instance
    expires_at: float
    ttl_s: float
    group: str | None = None
    acquired_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return self.instance.url

    def renew(self, ttl_s: float | None = None) -> Lease:
        """Extend the lease by its TTL (or ``ttl_s``, kept for later renewals) from now."""
        self.ttl_s = ttl_s or self.ttl_s
        self.expires_at = time.monotonic() + self.ttl_s
        return self


class InstanceStatus(BaseModel):
    id: str
    site: str
    url: str
    state: Literal["standby", "leased"]
    lease: str | None = None
    expires_in_s: float | None = None


class SiteStatus(BaseModel):
    golden: str = ""
    standby: int
    standby_target: int
    leased: int
    launching: int


class PoolStatus(BaseModel):
    owner: str
    backend: str
    snapshot_driver: str
    pid: int
    max_instances: int
    min_free_memory_bytes: int
    available_memory_bytes: int
    sites: dict[str, SiteStatus]
    instances: list[InstanceStatus]
    counters: dict[str, int]


def status_dir() -> Path:
    """Where running managers publish their status for ``webserv pool status``."""
    return paths.home() / "pool" / "status"


def pristine_dir() -> Path:
    """Where managers keep the pristine marks of their standby instances, one dir per owner."""
    return paths.home() / "pool" / "pristine"


class StandbyWatcher(Protocol):
    """Told when an instance joins standby and when it is gone for good (recycled, replaced,
    discarded or closed), e.g. to prepare something for its next lease meanwhile."""

    def standby(self, instance: Instance) -> None: ...

    def gone(self, instance: Instance) -> None: ...


class PoolManager:
    """Keeps site instances warm and hands them out under leases. Use as an async context
    manager, or call :meth:`start` and :meth:`close`. The backend stays the caller's."""

    def __init__(
        self,
        backend: Backend,
        store: SnapshotStore,
        sites: list[PoolSite],
        *,
        owner: str | None = None,
        max_instances: int = 64,
        min_free_memory_bytes: int = 512 * 2**20,
        lease_ttl_s: float = 600.0,
        health_interval_s: float = 2.0,
        reaper_interval_s: float = 1.0,
        port_range: tuple[int, int] = (20000, 30000),
        state_dir: Path | None = None,
    ) -> None:
        """``state_dir`` keeps the pristine marks of standby instances (see ``pristine.py``),
        per owner; by default under the webserv home."""
        self.backend = backend
        self.store = store
        self.sites = {site.spec.name: site for site in sites}
        self.owner: str = owner or str(getattr(backend, "owner", "default"))
        if not _OWNER.match(self.owner):
            raise ValueError(f"invalid owner {self.owner!r}")
        self.max_instances = max_instances
        self.min_free_memory_bytes = min_free_memory_bytes
        self.lease_ttl_s = lease_ttl_s
        self.health_interval_s = health_interval_s
        self.reaper_interval_s = reaper_interval_s
        self.port_range = port_range
        self.marks = PristineMarks((state_dir or pristine_dir()) / self.owner)
        self._standby: dict[str, deque[Instance]] = {name: deque() for name in self.sites}
        self._launching: dict[str, int] = dict.fromkeys(self.sites, 0)
        self._instances: dict[str, Instance] = {}
        self._leases: dict[str, Lease] = {}
        self._ports: set[int] = set()
        # Managers in different processes start at different ports, so they rarely race.
        self._next_port = random.randrange(*port_range)
        self._changed = asyncio.Condition()
        self._wake = {name: asyncio.Event() for name in self.sites}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        # Leases whose dead instance is being started again: one restart at a time each, or
        # a slow restart would be overtaken by the next health check and its process lost.
        self._restarting: set[str] = set()
        self._client = httpx.AsyncClient()
        self._watchers: list[StandbyWatcher] = []
        self.counters = dict.fromkeys(
            ("launched", "adopted", "recycled", "replaced", "reaped", "pool_full", "launch_failed"),
            0,
        )

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> PoolManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Reconcile leftovers (adopting what is pristine), get the backend ready for each
        site, then start filling standby and the health/reaper loops."""
        for site in self.sites.values():
            if not self.store.has_golden(site.golden):
                raise FileNotFoundError(
                    f"no golden snapshot {site.golden!r} for site {site.spec.name!r}; "
                    f"create it with `webserv pool golden`"
                )
        await self.reconcile()
        await asyncio.gather(*(self.backend.prepare(site.spec) for site in self.sites.values()))
        for name in self.sites:
            self._tasks.append(asyncio.create_task(self._filler(name)))
            self._wake[name].set()
        self._tasks.append(asyncio.create_task(self._health_loop()))
        self._tasks.append(asyncio.create_task(self._reaper_loop()))

    async def close(self, destroy: bool = True) -> None:
        """Stop the loops; with ``destroy``, stop every instance and remove its clone."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.drain()
        if destroy:
            await asyncio.gather(*(self._discard(i) for i in list(self._instances.values())))
            for queue in self._standby.values():
                queue.clear()
            self._leases.clear()
        await self._client.aclose()
        status_file = status_dir() / f"{self.owner}.json"
        status_file.unlink(missing_ok=True)

    def watch(self, watcher: StandbyWatcher) -> None:
        """Tell ``watcher`` about every instance in standby now and from now on, and about
        every instance that goes."""
        self._watchers.append(watcher)
        for queue in self._standby.values():
            for instance in queue:
                watcher.standby(instance)

    def touched(self, instance_id: str) -> None:
        """A standby instance's state changed before its lease (a login prepared for it): a
        restarted manager must not adopt it as pristine."""
        self.marks.unmark(instance_id)

    def _to_standby(self, instance: Instance) -> None:
        self._standby[instance.site].append(instance)
        for watcher in self._watchers:
            watcher.standby(instance)

    async def drain(self) -> None:
        """Wait until background recycling has finished."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def wait_standby(self, timeout_s: float = 60.0) -> None:
        """Wait until every site has its standby target (or cannot get more)."""

        def filled() -> bool:
            return all(
                len(self._standby[name]) >= site.standby or self._blocked(name)
                for name, site in self.sites.items()
            ) and not any(self._launching.values())

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(filled), timeout_s)

    async def reconcile(self) -> dict[str, int]:
        """Deal with what a previous manager of this owner left behind: adopt into standby
        (up to each site's target) the instances that are healthy, serve a clone of the
        current golden and were never handed out (their pristine mark says so); stop every
        other instance and destroy every other clone. Returns the counts."""
        found = await self.backend.owned(self.owner)
        clones = set(self.store.clones())
        stale = []
        adopted = 0
        for instance in found:
            if instance.id in self._instances:
                continue
            if await self._adoptable(instance, clones):
                self._instances[instance.id] = instance
                self._ports.add(instance.port)
                self._to_standby(instance)
                adopted += 1
            else:
                stale.append(instance)
        for instance in stale:
            self.marks.unmark(instance.id)
            await self.backend.stop(instance)
        prefix = f"{self.owner}-"
        known = set(self._instances)
        leftover = [c for c in sorted(clones) if c.startswith(prefix) and c not in known]
        for clone_id in leftover:
            await asyncio.to_thread(self.store.destroy, clone_id)
        for instance_id in self.marks.ids():
            if instance_id not in known:
                self.marks.unmark(instance_id)
        self.counters["adopted"] += adopted
        if stale or leftover or adopted:
            log.info(
                "reconciled: adopted %d instances, stopped %d, destroyed %d clones",
                adopted,
                len(stale),
                len(leftover),
            )
        return {"instances": len(stale), "clones": len(leftover), "adopted": adopted}

    async def _adoptable(self, instance: Instance, clones: set[str]) -> bool:
        """Whether a leftover instance may join standby as if this manager had launched it."""
        site = self.sites.get(instance.site)
        mark = self.marks.get(instance.id)
        if site is None or mark is None or instance.id not in clones:
            return False
        if mark.get("golden") != site.golden or mark.get("stamp") != self._stamp(site):
            return False  # the golden was replaced since
        if not self._serves_own_clone(instance):
            return False
        if (
            len(self._standby[instance.site]) >= site.standby
            or self._in_use() >= self.max_instances
        ):
            return False
        if instance.port in self._ports:
            return False
        url = instance.url + site.spec.health_path
        return await self.backend.alive(instance) and await healthy(self._client, url)

    def _serves_own_clone(self, instance: Instance) -> bool:
        expected = self.store.data_dir(instance.id)
        return os.path.realpath(instance.data_dir) == os.path.realpath(expected)

    def _stamp(self, site: PoolSite) -> str:
        return self.store.golden_stamp(site.golden)

    # -- leases ----------------------------------------------------------------------

    async def acquire(self, site: str, ttl_s: float | None = None) -> Lease:
        """Lease a ready instance of ``site``: a standby one at once, else a new launch."""
        self._site(site)
        instance = await self._take_standby(site)
        if instance is None:
            instance = await self._launch(site)
        self._wake[site].set()
        return self._lease(instance, ttl_s)

    async def acquire_group(self, site: str, n: int, ttl_s: float | None = None) -> list[Lease]:
        """Lease ``n`` instances that start from the identical golden state (a GRPO group).

        Either all ``n`` are handed out or none (PoolFull)."""
        self._site(site)
        if n < 1:
            raise ValueError("a group needs at least one instance")
        taken: list[Instance] = []
        while len(taken) < n and self._standby[site]:
            instance = self._standby[site].popleft()
            self.marks.unmark(instance.id)
            if await self.backend.alive(instance):
                taken.append(instance)
            else:
                self._spawn(self._discard(instance))
        missing = n - len(taken)
        try:
            if missing:
                self._admit(missing, site)
                launched = await asyncio.gather(
                    *(self._launch(site) for _ in range(missing)), return_exceptions=True
                )
                errors = [r for r in launched if isinstance(r, BaseException)]
                taken += [r for r in launched if isinstance(r, Instance)]
                if errors:
                    raise errors[0]
        except BaseException:
            for instance in taken:
                self._spawn(self._recycle(instance))
            raise
        finally:
            self._wake[site].set()
        group = uuid.uuid4().hex[:12]
        return [self._lease(instance, ttl_s, group) for instance in taken]

    def renew(self, lease_id: str, ttl_s: float | None = None) -> Lease:
        """Extend a lease by its TTL (or ``ttl_s``) from now."""
        return self._get(lease_id).renew(ttl_s)

    def lease(self, lease_id: str) -> Lease:
        return self._get(lease_id)

    async def release(self, lease_id: str) -> None:
        """End a lease; the instance is recycled in the background, never reused as is."""
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            raise UnknownLease(lease_id)
        self._spawn(self._recycle(lease.instance))

    # -- status ----------------------------------------------------------------------

    def status(self) -> PoolStatus:
        now = time.monotonic()
        leased_by_instance = {lease.instance.id: lease for lease in self._leases.values()}
        instances = []
        for instance in self._instances.values():
            lease = leased_by_instance.get(instance.id)
            if lease is None and instance not in self._standby[instance.site]:
                continue  # launching or recycling
            instances.append(
                InstanceStatus(
                    id=instance.id,
                    site=instance.site,
                    url=instance.url,
                    state="leased" if lease else "standby",
                    lease=lease.id if lease else None,
                    expires_in_s=round(lease.expires_at - now, 1) if lease else None,
                )
            )
        sites = {
            name: SiteStatus(
                golden=site.golden,
                standby=len(self._standby[name]),
                standby_target=site.standby,
                leased=sum(1 for lease in self._leases.values() if lease.instance.site == name),
                launching=self._launching[name],
            )
            for name, site in self.sites.items()
        }
        return PoolStatus(
            owner=self.owner,
            backend=self.backend.name,
            snapshot_driver=self.store.driver.name,
            pid=os.getpid(),
            max_instances=self.max_instances,
            min_free_memory_bytes=self.min_free_memory_bytes,
            available_memory_bytes=psutil.virtual_memory().available,
            sites=sites,
            instances=instances,
            counters=dict(self.counters),
        )

    def publish_status(self) -> Path:
        """Write :meth:`status` where ``webserv pool status`` finds it."""
        directory = status_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.owner}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.status().model_dump_json(indent=2))
        tmp.replace(path)
        return path

    # -- internals -------------------------------------------------------------------

    def _site(self, name: str) -> PoolSite:
        if name not in self.sites:
            raise KeyError(f"unknown site {name!r}; this pool serves {', '.join(self.sites)}")
        return self.sites[name]

    def _get(self, lease_id: str) -> Lease:
        if lease_id not in self._leases:
            raise UnknownLease(lease_id)
        return self._leases[lease_id]

    def _lease(self, instance: Instance, ttl_s: float | None, group: str | None = None) -> Lease:
        ttl = ttl_s or self.lease_ttl_s
        lease = Lease(
            id=uuid.uuid4().hex,
            instance=instance,
            expires_at=time.monotonic() + ttl,
            ttl_s=ttl,
            group=group,
        )
        self._leases[lease.id] = lease
        return lease

    def _in_use(self) -> int:
        return len(self._instances) + sum(self._launching.values())

    def _blocked(self, site: str | None = None) -> bool:
        try:
            self._admit(1, site)
        except PoolFull:
            return True
        return False

    def _admit(self, n: int, site: str | None = None) -> None:
        """Raise PoolFull unless ``n`` more instances (of ``site``) fit the limits."""
        cap = self.sites[site].max_instances if site is not None else None
        if site is not None and cap is not None:
            of_site = sum(1 for i in self._instances.values() if i.site == site)
            of_site += self._launching[site]
            if of_site + n > cap:
                self.counters["pool_full"] += 1
                raise PoolFull(
                    f"pool full: {of_site} instances of {site} running or starting, {n} more "
                    f"requested, its max_instances={cap}; release leases or retry later"
                )
        in_use = self._in_use()
        if in_use + n > self.max_instances:
            self.counters["pool_full"] += 1
            raise PoolFull(
                f"pool full: {in_use} instances running or starting, {n} more requested, "
                f"max_instances={self.max_instances}; release leases or retry later"
            )
        available = psutil.virtual_memory().available
        if available < self.min_free_memory_bytes:
            self.counters["pool_full"] += 1
            raise PoolFull(
                f"pool full: {available / 2**20:.0f} MiB of memory available, below the "
                f"floor of {self.min_free_memory_bytes / 2**20:.0f} MiB"
            )

    def _port(self) -> int:
        low, high = self.port_range
        for _ in range(high - low):
            port = self._next_port
            self._next_port = low + (port + 1 - low) % (high - low)
            if port in self._ports:
                continue
            with socket.socket() as probe:
                # As the servers do, so a port whose old connections linger in TIME_WAIT counts.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            self._ports.add(port)
            return port
        raise PoolFull(f"no free port in {low}-{high}")

    async def _take_standby(self, site: str) -> Instance | None:
        """A live standby instance, waiting for one being launched if none is ready."""
        queue = self._standby[site]
        while True:
            while queue:
                instance = queue.popleft()
                self.marks.unmark(instance.id)  # before it can be handed out
                if await self.backend.alive(instance):
                    return instance
                self._spawn(self._discard(instance))
            if not self._launching[site]:
                return None
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(queue) or not self._launching[site]),
                    self._site(site).spec.ready_timeout_s,
                )

    async def _launch(self, site: str) -> Instance:
        """Clone golden, start, wait until healthy, run the site's hook. Raises PoolFull or
        the launch error."""
        self._admit(1, site)
        pool_site = self._site(site)
        spec = pool_site.spec
        instance_id = f"{self.owner}-{site}-{uuid.uuid4().hex[:10]}"
        port = None if self.backend.chooses_port else self._port()
        self._launching[site] += 1
        instance: Instance | None = None
        try:
            cloning = asyncio.ensure_future(
                asyncio.to_thread(self.store.clone, pool_site.golden, instance_id)
            )
            try:
                data_dir = await asyncio.shield(cloning)
            except asyncio.CancelledError:
                # The copy runs on in its thread; let it finish so the cleanup below sees it.
                await asyncio.wait([cloning])
                raise
            instance = await self.backend.start(spec, instance_id, data_dir, port)
            self._instances[instance.id] = instance
            self._ports.add(instance.port)
            started = instance

            async def alive() -> bool:
                return await self.backend.alive(started)

            await wait_healthy(
                self._client, instance.url + spec.health_path, spec.ready_timeout_s, alive
            )
            if pool_site.after_launch is not None:
                await pool_site.after_launch(_Launched(instance, self.backend))
            self.counters["launched"] += 1
            return instance
        except BaseException:
            self.counters["launch_failed"] += 1
            if instance is not None:
                await self._discard(instance)
            else:
                if port is not None:
                    self._ports.discard(port)
                await asyncio.to_thread(self.store.destroy, instance_id)
            raise
        finally:
            self._launching[site] -= 1
            await self._notify()

    async def _discard(self, instance: Instance) -> None:
        """Stop an instance, destroy its clone, free its port."""
        self.marks.unmark(instance.id)
        for watcher in self._watchers:
            watcher.gone(instance)
        with contextlib.suppress(Exception):
            await self.backend.stop(instance)
        await asyncio.to_thread(self.store.destroy, instance.id)
        self._instances.pop(instance.id, None)
        self._ports.discard(instance.port)
        self._wake[instance.site].set()
        await self._notify()

    async def _recycle(self, instance: Instance) -> None:
        await self._discard(instance)
        self.counters["recycled"] += 1

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _filler(self, site: str) -> None:
        """Keep ``standby`` ready instances of ``site``; woken whenever room may have appeared."""
        target = self.sites[site].standby
        backoff_s = 0.0
        while True:
            await self._wake[site].wait()
            self._wake[site].clear()
            need = target - len(self._standby[site]) - self._launching[site]
            if need <= 0:
                continue
            results = await asyncio.gather(
                *(self._launch(site) for _ in range(need)), return_exceptions=True
            )
            failed = False
            for result in results:
                if isinstance(result, Instance):
                    self.marks.mark(result, self.sites[site].golden, self._stamp(self.sites[site]))
                    self._to_standby(result)
                elif not isinstance(result, PoolFull):
                    failed = True
                    log.warning("standby launch of %s failed: %s", site, result)
            await self._notify()
            # A site that fails to start is retried with growing pauses, not in a hot loop.
            backoff_s = min(30.0, max(0.5, backoff_s * 2)) if failed else 0.0
            if failed:
                await asyncio.sleep(backoff_s)
                self._wake[site].set()

    async def _health_loop(self) -> None:
        """Replace dead standby instances; restart dead leased ones on their own clone."""
        while True:
            await asyncio.sleep(self.health_interval_s)
            for name in self.sites:
                for instance in list(self._standby[name]):
                    url = instance.url + self.sites[name].spec.health_path
                    if await self.backend.alive(instance) and await healthy(self._client, url):
                        continue
                    with contextlib.suppress(ValueError):
                        self._standby[name].remove(instance)
                        self.counters["replaced"] += 1
                        self._spawn(self._discard(instance))
            for lease in list(self._leases.values()):
                if lease.id in self._restarting:
                    continue
                if not await self.backend.alive(lease.instance):
                    self._restarting.add(lease.id)
                    self._spawn(self._restart(lease))
            with contextlib.suppress(OSError):
                self.publish_status()

    async def _restart(self, lease: Lease) -> None:
        """Start a leased instance that died again, on the same clone and port."""
        old = lease.instance
        spec = self.sites[old.site].spec
        try:
            with contextlib.suppress(Exception):
                await self.backend.stop(old)
            new = await self.backend.start(spec, old.id, old.data_dir, old.port)
            lease.instance = self._instances[old.id] = new
            await wait_healthy(self._client, new.url + spec.health_path, spec.ready_timeout_s)
            self.counters["replaced"] += 1
        except (NotReady, OSError) as exc:
            log.warning("restarting leased instance %s failed: %s", old.id, exc)
        finally:
            self._restarting.discard(lease.id)

    async def _reaper_loop(self) -> None:
        """Release leases whose TTL has run out (their holder is gone)."""
        while True:
            await asyncio.sleep(self.reaper_interval_s)
            now = time.monotonic()
            for lease in [lease for lease in self._leases.values() if lease.expires_at < now]:
                self._leases.pop(lease.id, None)
                self.counters["reaped"] += 1
                self._spawn(self._recycle(lease.instance))
