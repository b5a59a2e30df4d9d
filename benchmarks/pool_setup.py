"""What the pool benchmarks share: the golden shop data, stores, backends, one timed launch."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from webserv.pool.backends.base import Backend, Instance
from webserv.pool.health import wait_healthy
from webserv.pool.snapshot import DRIVERS, SnapshotStore
from webserv.pool.snapshot.store import default_root
from webserv.sites.spec import SiteSpec

GOLDEN = "shop-bench"
#: Per run, so concurrent runs never reconcile (stop) each other's instances.
OWNER = f"bench{os.getpid()}"


def golden_source(data_dir: Path | None, scale: float) -> Path:
    """A seeded shop data dir: ``data_dir`` if given, else the one seeded once per scale."""
    if data_dir is not None:
        if not (data_dir / "shop.db").is_file():
            raise FileNotFoundError(f"{data_dir} holds no shop.db; seed it first")
        return data_dir
    from webserv.pool.golden import DEFAULT_SEED, seeded_source
    from webserv.pool.sites import shop_spec

    return seeded_source(shop_spec(), DEFAULT_SEED, scale)


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


def store_for(driver: str, source: Path, root: Path | None) -> SnapshotStore:
    """A store with ``driver`` whose golden ``shop-bench`` is a fresh copy of ``source``.

    It lives in this run's own directory; ``wipe`` it when done."""
    store = SnapshotStore(run_root(root), driver)
    store.create_golden(GOLDEN, source, replace=True)
    return store


def make_backend(name: str, zygote: bool = True, runtimes: int = 0) -> Backend:
    """The named backend, owned by the benchmarks (``process`` may run cold: no zygote;
    ``docker`` may keep ``runtimes`` pre-started containers per site)."""
    from webserv.pool.sites import PRELOAD

    if name == "process":
        from webserv.pool.backends.process import ProcessBackend

        return ProcessBackend(owner=OWNER, zygote=zygote, preload=PRELOAD)
    if name == "docker":
        from webserv.pool.backends.docker import DockerBackend

        return DockerBackend(owner=OWNER, runtimes=runtimes, preload=PRELOAD)
    raise ValueError(f"unknown backend {name!r}; choose process or docker")


async def close_backend(backend: Backend) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        await close()


# Each run starts at its own offset, so concurrent runs rarely probe the same ports.
_PORTS = range(24000, 30000)
_ports = itertools.islice(itertools.cycle(_PORTS), os.getpid() * 97 % len(_PORTS), None)


def free_port() -> int:
    """A free port below the ephemeral range (no outgoing connection can hold it)."""
    for port in _ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Launched:
    instance: Instance
    clone_ms: float
    launch_ms: float  # from the request to the first health answer < 400


async def launch(
    backend: Backend,
    store: SnapshotStore,
    spec: SiteSpec,
    client: httpx.AsyncClient,
    instance_id: str,
) -> Launched:
    """Clone the golden data, start the site on it, wait until healthy; timed end to end."""
    began = time.perf_counter()
    data_dir = await asyncio.to_thread(store.clone, GOLDEN, instance_id)
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
