"""Reset as a trainer sees it: how long until it holds a fresh instance for the next episode.

Ours: the PoolManager hands over a warm standby instance (``handover_ms``) and recycles in
the background (``recycle_ms``: the background work one episode costs, timed in two parts
with nothing else running: the replacement standby the hand-over triggers, clone + launch +
health, plus tearing the used instance down on release, stop + destroy the clone).
With docker, ``standby-runtime-<driver>`` rows run the same pool with one pre-started runtime
container per site (the instance's clone is handed to an idle runtime; a new runtime starts in
the background, not counted in ``recycle_ms``, its start time reported with the row).
Baseline: what WebArena does, the trainer waits while the used instance is stopped and a
fresh one is started on a full data copy (``recreate-full-copy``, the same backend, a fresh
process or container).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.pool_setup import (
    OWNER,
    Golden,
    close_backend,
    discard,
    launch,
    load_note,
    make_backend,
    store_for,
    supported_drivers,
    takes_runtimes,
    wipe,
)
from benchmarks.report import Report
from webserv.pool.manager import PoolManager, PoolSite


async def _pool_series(
    backend_name: str, driver: str, golden: Golden, root: Path | None, n: int, runtimes: int = 0
):
    site = golden.site
    backend = make_backend(backend_name, site, runtimes=runtimes)
    store = store_for(driver, golden, root)
    handover, recycle = [], []
    pool_site = PoolSite(site.spec, golden.name, standby=2, after_launch=site.after_launch)
    try:
        async with PoolManager(backend, store, [pool_site], owner=OWNER) as pool:
            await pool.wait_standby(timeout_s=300)
            async with httpx.AsyncClient() as client:
                for _ in range(n):
                    began = time.perf_counter()
                    lease = await pool.acquire(site.name)
                    handed_over = time.perf_counter()
                    handover.append((handed_over - began) * 1000)
                    # The hand-over triggers the replacement: clone, launch, health.
                    await pool.wait_standby(timeout_s=300)
                    refill_s = time.perf_counter() - handed_over
                    answer = await client.get(lease.url + site.spec.health_path)
                    assert answer.status_code < 400
                    began = time.perf_counter()
                    await pool.release(lease.id)
                    await pool.drain()  # the used instance: stop, destroy its clone
                    recycle.append((refill_s + time.perf_counter() - began) * 1000)
    finally:
        await close_backend(backend)
        await asyncio.to_thread(wipe, store)
    # A runtime container that replaces a used one starts in the background.
    return handover, recycle, list(getattr(backend, "runtime_start_s", []))


async def _baseline_series(backend_name: str, golden: Golden, root: Path | None, n: int):
    backend = make_backend(backend_name, golden.site, zygote=False)
    store = store_for("copy", golden, root)
    samples = []
    try:
        async with httpx.AsyncClient() as client:
            current = await launch(backend, store, golden, client, "bench-recreate-0")
            for i in range(1, n + 1):
                began = time.perf_counter()
                await discard(backend, store, current.instance)
                current = await launch(backend, store, golden, client, f"bench-recreate-{i}")
                samples.append((time.perf_counter() - began) * 1000)
            await discard(backend, store, current.instance)
    finally:
        await close_backend(backend)
        await asyncio.to_thread(wipe, store)
    return samples


async def _run(backend: str, drivers: list[str], n: int, golden: Golden, root: Path | None):
    report = Report(
        benchmark="reset",
        params={
            "site": golden.site.name,
            "golden": golden.name,
            "backend": backend,
            "drivers": drivers,
            "n": n,
            "standby": 2,
        },
        notes=[load_note("at start")],
    )
    baseline = await _baseline_series(backend, golden, root, n)
    report.add("recreate-full-copy", "handover_ms", baseline)
    report.add("recreate-full-copy", "recycle_ms", baseline)
    # Docker also runs with a pre-started runtime container per site (see launch).
    series = [(driver, 0) for driver in drivers]
    if backend == "docker":
        if await takes_runtimes(golden.site):
            series += [(driver, 1) for driver in drivers]
        else:
            report.notes.append(
                f"{golden.site.spec.image} does not start as a runtime: no runtime rows"
            )
    for driver, runtimes in series:
        handover, recycle, starts = await _pool_series(backend, driver, golden, root, n, runtimes)
        variant = f"standby-runtime-{driver}" if runtimes else f"standby-{driver}"
        extra = {}
        if runtimes:
            extra["runtime_start_ms_p50"] = statistics.median(starts or [0.0]) * 1000
            extra["runtimes_started"] = len(starts)
        report.add(variant, "handover_ms", handover)
        report.add(variant, "recycle_ms", recycle, **extra)
        report.compare("handover_ms", variant, "recreate-full-copy")
        report.compare("recycle_ms", variant, "recreate-full-copy")
    report.notes.append(load_note("at end"))
    return report


def run(
    golden: Golden,
    backend: str = "process",
    drivers: list[str] | None = None,
    n: int = 20,
    root: Path | None = None,
) -> Report:
    """Run the reset benchmark for every requested driver that the store root supports."""
    names = supported_drivers(root, drivers)
    return asyncio.run(_run(backend, names, n, golden, root))
