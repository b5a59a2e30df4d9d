"""What the pool benchmarks share: a site's golden data, stores, backends, one timed launch."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from webserv.pool.backends.base import Backend, Instance, free_port
from webserv.pool.golden import ensure_golden, recorded_params, seeded_source
from webserv.pool.health import wait_healthy
from webserv.pool.snapshot import DRIVERS, SnapshotStore
from webserv.pool.snapshot.store import default_root
from webserv.sites import registry
from webserv.sites.plugin import Site

#: Per run, so concurrent runs never reconcile (stop) each other's instances.
OWNER = f"bench{os.getpid()}"


@dataclass(frozen=True)
class Golden:
    """The site a pool benchmark launches, and the golden data its stores copy."""

    site: Site
    name: str
    source: Path


def bench_golden(
    site_name: str,
    backend: str,
    data_dir: Path | None = None,
    scale: float | None = None,
    root: Path | None = None,
) -> Golden:
    """``site_name``'s golden data: ``data_dir`` if given; a seeded site's data generated
    once at ``scale`` (default: the recipe's); an exported site's golden as its user stored
    it in the snapshot store at ``root`` (a missing one is the error saying how to export it).
    """
    site = registry.get(site_name)
    if backend not in site.backends:
        raise ValueError(f"site {site.name} runs on {', '.join(site.backends)}, not on {backend}")
    if data_dir is not None:
        if not data_dir.is_dir():
            raise FileNotFoundError(f"{data_dir} is not a data dir")
        return Golden(site, site.golden_name(recorded_params(site, data_dir)), data_dir)
    params = site.golden_params(None if scale is None else {"scale": scale})
    if site.recipe.kind == "seed":
        return Golden(site, site.golden_name(params), seeded_source(site, params))
    store = SnapshotStore(root)
    name = ensure_golden(store, site, params)
    return Golden(site, name, store.golden_path(name))


def supported_drivers(root: Path | None, wanted: list[str] | None) -> list[str]:
    """The requested drivers (all by default) that work at the store root."""
    store_root = root or default_root()
    names = wanted or list(DRIVERS)
    unknown = [n for n in names if n not in DRIVERS]
    if unknown:
        raise ValueError(f"unknown snapshot driver(s) {unknown}; choose from {list(DRIVERS)}")
    return [n for n in names if DRIVERS[n].supported(store_root)]


def run_root(root: Path | None) -> Path:
    """This run's own directory under the store root, so concurrent runs never collide."""
    return (root or default_root()) / "bench-runs" / f"{os.getpid()}"


def store_for(driver: str, golden: Golden, root: Path | None) -> SnapshotStore:
    """A store with ``driver`` whose golden ``golden.name`` is a fresh copy of its source.

    It lives in this run's own directory; ``wipe`` it when done."""
    store = SnapshotStore(run_root(root), driver)
    store.create_golden(golden.name, golden.source, replace=True)
    return store


def wipe(store: SnapshotStore) -> None:
    """Destroy a store of :func:`store_for`, and the runs' directory once no run uses it."""
    store.wipe()
    with contextlib.suppress(OSError):
        store.root.parent.rmdir()  # fails while another run's store is in it


def make_backend(name: str, site: Site, zygote: bool = True, runtimes: int = 0) -> Backend:
    """The named backend for ``site``, owned by the benchmarks (``process`` may run cold: no
    zygote; ``docker`` may keep ``runtimes`` pre-started containers per site)."""
    preload = {site.name: list(site.preload)}
    if name == "process":
        from webserv.pool.backends.process import ProcessBackend

        return ProcessBackend(owner=OWNER, zygote=zygote, preload=preload)
    if name == "docker":
        from webserv.pool.backends.docker import DockerBackend

        return DockerBackend(owner=OWNER, runtimes=runtimes, preload=preload)
    raise ValueError(f"unknown backend {name!r}; choose process or docker")


async def takes_runtimes(site: Site) -> bool:
    """Whether ``site``'s image starts as a docker runtime (else runtime rows are left out,
    with a note: they would time a fresh container under another name)."""
    from webserv.pool.backends.docker import DockerBackend

    probe = DockerBackend(owner=OWNER)
    try:
        return await probe.takes_runtimes(site.spec)
    finally:
        await probe.close()


async def close_backend(backend: Backend) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        await close()


@dataclass
class Launched:
    instance: Instance
    clone_ms: float
    launch_ms: float  # from the request to the first health answer < 400


async def launch(
    backend: Backend,
    store: SnapshotStore,
    golden: Golden,
    client: httpx.AsyncClient,
    instance_id: str,
) -> Launched:
    """Clone the golden data, start the site on it, wait until healthy; timed end to end.

    The site's ``after_launch`` hook (a WebArena site's base URL rewrite) is left out: it
    would cost ours and the baselines alike, and the rows time the launch up to health."""
    spec = golden.site.spec
    began = time.perf_counter()
    data_dir = await asyncio.to_thread(store.clone, golden.name, instance_id)
    cloned = time.perf_counter()
    port = None if backend.chooses_port else free_port()
    instance = await backend.start(spec, instance_id, data_dir, port)

    async def alive() -> bool:
        return await backend.alive(instance)

    await wait_healthy(client, instance.url + spec.health_path, spec.ready_timeout_s, alive)
    done = time.perf_counter()
    return Launched(instance, (cloned - began) * 1000, (done - began) * 1000)


async def discard(backend: Backend, store: SnapshotStore, instance: Instance) -> None:
    await backend.stop(instance)
    await asyncio.to_thread(store.destroy, instance.id)


def drop_page_cache() -> None:
    """Write back dirty pages and empty the page cache (root only): a cold-cache launch."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def load_average() -> list[float]:
    """The host's 1, 5 and 15 minute load averages, for a report's params."""
    return [round(x, 1) for x in os.getloadavg()]


def load_note(when: str) -> str:
    """The host's load average, stated in every report: the CPUs are shared."""
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} CPUs"
