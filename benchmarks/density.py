"""Density and memory: how many instances of a site run healthy at once on this host.

Launches up to ``target`` instances (each on its own clone and port), then probes all of
them concurrently, twice, some seconds apart; an instance counts if it answered < 400 both
times. Memory per instance is measured, not estimated: RSS, and for forked children also
PSS (shared pages split between sharers) and USS (pages only this instance has), plus the
host's used memory before and after divided by the instance count. A few cold processes
(a fresh interpreter each, what WebArena-style launching costs) are measured the same way.
"""

from __future__ import annotations

import asyncio
import resource
import time
from pathlib import Path

import httpx
import psutil

from benchmarks.pool_setup import (
    Golden,
    close_backend,
    discard,
    launch,
    load_note,
    make_backend,
    store_for,
    supported_drivers,
    wipe,
)
from benchmarks.report import Report
from webserv.pool.backends.base import Backend, Instance
from webserv.pool.health import healthy
from webserv.pool.snapshot import SnapshotStore
from webserv.pool.snapshot.store import default_root
from webserv.sites.spec import SiteSpec


async def _memory(backend: Backend, instances: list[Instance]) -> dict[str, list[float]]:
    detail = getattr(backend, "memory_detail", None)
    out: dict[str, list[float]] = {"rss": [], "pss": [], "uss": []}
    for instance in instances:
        if detail is not None:
            info = await detail(instance)
            for key in out:
                out[key].append(info[key])
        else:
            out["rss"].append(await backend.memory_bytes(instance))
    return {k: v for k, v in out.items() if v}


async def _probe_all(
    client: httpx.AsyncClient, spec: SiteSpec, instances: list[Instance]
) -> set[str]:
    gate = asyncio.Semaphore(50)

    async def probe(instance: Instance) -> str | None:
        async with gate:
            ok = await healthy(client, instance.url + spec.health_path, timeout_s=30)
        return instance.id if ok else None

    return {i for i in await asyncio.gather(*(probe(x) for x in instances)) if i}


async def _launch_many(
    backend: Backend,
    store: SnapshotStore,
    golden: Golden,
    target: int,
    label: str,
    report: Report,
) -> tuple[list[Instance], list[float]]:
    instances: list[Instance] = []
    times: list[float] = []
    floor = 1 * 2**30  # stop before the host runs out of memory
    async with httpx.AsyncClient() as client:
        batch = 4
        while len(instances) < target:
            if psutil.virtual_memory().available < floor:
                report.notes.append(f"{label}: stopped at {len(instances)}: under 1 GiB free")
                break
            size = min(batch, target - len(instances))
            offset = len(instances)
            results = await asyncio.gather(
                *(
                    launch(backend, store, golden, client, f"bench-{label}-{offset + i}")
                    for i in range(size)
                ),
                return_exceptions=True,
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if not isinstance(result, BaseException):
                    instances.append(result.instance)
                    times.append(result.launch_ms)
            if failures:
                report.notes.append(
                    f"{label}: {len(failures)} launch(es) failed at {len(instances)} running: "
                    f"{failures[0]!r}"
                )
                break
    return instances, times


def pick_driver(root: Path | None, driver: str | None) -> str:
    """``driver`` if it works at the store root, else (none given) the fastest that does."""
    names = supported_drivers(root, [driver] if driver else None)
    if not names:
        raise ValueError(f"snapshot driver {driver} does not work at {root or default_root()}")
    return names[0]


def _limits() -> dict[str, object]:
    """What bounds the instance count besides memory: file and process limits, ports, pids."""
    return {
        "rlimit_nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "rlimit_nproc": list(resource.getrlimit(resource.RLIMIT_NPROC)),
        "ephemeral_ports": Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split(),
        "instance_ports": "24000-29999 (below the ephemeral range)",
        "pid_max": int(Path("/proc/sys/kernel/pid_max").read_text()),
    }


async def _run(
    backend_name: str, driver: str, target: int, cold: int, golden: Golden, root: Path | None
) -> Report:
    site = golden.site
    report = Report(
        benchmark="density",
        params={
            "site": site.name,
            "golden": golden.name,
            "backend": backend_name,
            "driver": driver,
            "target": target,
            **_limits(),
        },
        notes=[load_note("at start")],
    )
    store = store_for(driver, golden, root)
    backend = make_backend(backend_name, site)
    instances: list[Instance] = []
    try:
        # Warm-up (zygote start or image load) before the memory baseline is taken.
        async with httpx.AsyncClient() as client:
            first = await launch(backend, store, golden, client, "bench-density-warmup")
        await discard(backend, store, first.instance)
        used_before = psutil.virtual_memory().used
        began = time.perf_counter()
        instances, times = await _launch_many(backend, store, golden, target, "density", report)
        elapsed = time.perf_counter() - began
        used_after = psutil.virtual_memory().used
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=60)) as client:
            first_pass = await _probe_all(client, site.spec, instances)
            await asyncio.sleep(5)  # the second pass checks they stay up, not a wait for state
            second_pass = await _probe_all(client, site.spec, instances)
        alive = len(first_pass & second_pass)
        variant = f"{backend_name}-{driver}"
        report.add(variant, "healthy_instances", [alive], launched=len(instances))
        report.add(variant, "launch_ms", times, total_s=round(elapsed, 1))
        memory = await _memory(backend, instances)
        for key, values in memory.items():
            report.add(variant, f"{key}_bytes", values)
        per_instance = (used_after - used_before) / max(1, len(instances))
        report.add(variant, "host_used_bytes_per_instance", [per_instance])
        report.notes.append(
            f"{alive} of {target} instances healthy in both probes; host memory used grew by "
            f"{(used_after - used_before) / 2**30:.2f} GiB for {len(instances)} instances"
        )
        await asyncio.gather(*(discard(backend, store, i) for i in instances))
        instances = []
        if backend_name == "process" and cold:
            baseline = make_backend("process", site, zygote=False)
            try:
                cold_instances, _ = await _launch_many(
                    baseline, store, golden, cold, "cold", report
                )
                memory = await _memory(baseline, cold_instances)
                for key, values in memory.items():
                    report.add("cold-process", f"{key}_bytes", values)
                report.compare("pss_bytes", variant, "cold-process")
                await asyncio.gather(*(discard(baseline, store, i) for i in cold_instances))
            finally:
                await close_backend(baseline)
        report.notes.append(load_note("at end"))
    finally:
        await asyncio.gather(*(discard(backend, store, i) for i in instances))
        await close_backend(backend)
        await asyncio.to_thread(wipe, store)
    return report


def run(
    golden: Golden,
    backend: str = "process",
    driver: str | None = None,
    target: int = 200,
    cold: int = 5,
    root: Path | None = None,
) -> Report:
    """Run the density benchmark with one driver (the fastest supported one by default)."""
    return asyncio.run(_run(backend, pick_driver(root, driver), target, cold, golden, root))
