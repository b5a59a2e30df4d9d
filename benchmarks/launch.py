"""Cold launch: from the request to the first health answer < 400, per snapshot driver,
against the baseline "fresh instance with a full data copy" on the same backend.

Ours: a copy-on-write clone of the golden data, then the site started on it; on the process
backend through the pre-forked launcher (the zygote is started once before timing, and its
start-up is reported). Baseline: a full copy, then a fresh process or container, as WebArena
does. On the process backend an extra variant, ``cold-<driver>``, starts a fresh interpreter
on the clone, to separate what the clone and the zygote each contribute. On the docker
backend, ``docker-<driver>`` starts a fresh container on the clone and
``docker-runtime-<driver>`` hands the clone to a pre-started runtime container (started, site
imported, port published, no data dir yet): the launch pays for the clone, a bind mount and
the socket bind. Runtimes are refilled between launches, untimed, as the zygote is started
untimed; how long one takes to start is reported with the row (``runtime_start_ms_p50``).
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import httpx

from benchmarks.pool_setup import (
    Golden,
    close_backend,
    discard,
    drop_page_cache,
    launch,
    load_average,
    load_note,
    make_backend,
    store_for,
    supported_drivers,
    takes_runtimes,
    wipe,
)
from benchmarks.report import Report
from webserv.pool.backends.base import Backend
from webserv.pool.snapshot import SnapshotStore


async def _series(
    backend: Backend, store: SnapshotStore, golden: Golden, n: int, label: str, cold_cache: bool
) -> tuple[list[float], list[float]]:
    launch_ms, clone_ms = [], []
    async with httpx.AsyncClient() as client:
        for i in range(n):
            # Untimed: a zygote or runtime ready, as in a pool.
            await backend.prepare(golden.site.spec)
            if cold_cache:
                await asyncio.to_thread(drop_page_cache)
            launched = await launch(backend, store, golden, client, f"bench-{label}-{i}")
            launch_ms.append(launched.launch_ms)
            clone_ms.append(launched.clone_ms)
            await discard(backend, store, launched.instance)
    return launch_ms, clone_ms


async def _runtime_series(
    report: Report,
    backend: Backend,
    store: SnapshotStore,
    golden: Golden,
    n: int,
    driver: str,
    cold_cache: bool,
) -> None:
    """The ``docker-runtime-<driver>`` row: launches on pre-started runtime containers."""
    starts = getattr(backend, "runtime_start_s", [])
    started_before = len(starts)
    samples, clones = await _series(backend, store, golden, n, f"runtime-{driver}", cold_cache)
    variant = f"docker-runtime-{driver}"
    report.add(
        variant,
        "launch_ms",
        samples,
        clone_ms_p50=statistics.median(clones),
        runtime_start_ms_p50=statistics.median(list(starts)[started_before:] or [0.0]) * 1000,
    )
    report.compare("launch_ms", variant, "full-copy")


async def _run(
    backend_name: str,
    drivers: list[str],
    n: int,
    golden: Golden,
    root: Path | None,
    cold_cache: bool,
) -> Report:
    report = Report(
        benchmark="launch",
        params={
            "site": golden.site.name,
            "golden": golden.name,
            "backend": backend_name,
            "drivers": drivers,
            "n": n,
            "golden_bytes": None,
            "page_cache": "dropped before every launch" if cold_cache else "warm",
            "load_average": {"start": load_average()},
        },
    )
    report.notes.append(load_note("at start"))
    site = golden.site
    ours = make_backend(backend_name, site)
    cold = make_backend(backend_name, site, zygote=False) if backend_name == "process" else ours
    warm = None
    if backend_name == "docker":
        if await takes_runtimes(site):
            warm = make_backend(backend_name, site, runtimes=1)
        else:
            report.notes.append(f"{site.spec.image} does not start as a runtime: no runtime rows")
    stores: list[SnapshotStore] = []
    try:
        baseline_store = store_for("copy", golden, root)
        stores.append(baseline_store)
        report.params["golden_bytes"] = baseline_store.golden_bytes(golden.name)
        # Warm-up, not timed: starts the zygote (process) or loads the image (docker).
        warm_ms, _ = await _series(ours, baseline_store, golden, 1, "warmup", False)
        zygote = next(iter(getattr(ours, "zygotes", {}).values()), None)
        if zygote is not None and zygote.start_s is not None:
            report.notes.append(
                f"zygote start (once per site, before any launch): {zygote.start_s * 1000:.0f} ms"
            )
        report.notes.append(f"first (warm-up) launch, untimed in the rows: {warm_ms[0]:.0f} ms")
        samples, clones = await _series(cold, baseline_store, golden, n, "full-copy", cold_cache)
        report.add("full-copy", "launch_ms", samples, clone_ms_p50=statistics.median(clones))
        for driver in drivers:
            if driver == "copy":
                store = baseline_store
            else:
                store = store_for(driver, golden, root)
                stores.append(store)
            variant = f"{backend_name}-{driver}"
            samples, clones = await _series(ours, store, golden, n, driver, cold_cache)
            report.add(variant, "launch_ms", samples, clone_ms_p50=statistics.median(clones))
            report.compare("launch_ms", variant, "full-copy")
            if backend_name == "process" and driver == drivers[0]:
                samples, clones = await _series(
                    cold, store, golden, n, f"cold-{driver}", cold_cache
                )
                report.add(
                    f"cold-{driver}", "launch_ms", samples, clone_ms_p50=statistics.median(clones)
                )
                report.compare("launch_ms", f"cold-{driver}", "full-copy")
            if warm is not None:
                await _runtime_series(report, warm, store, golden, n, driver, cold_cache)
        report.params["load_average"]["end"] = load_average()
        report.notes.append(load_note("at end"))
    finally:
        await close_backend(ours)
        if cold is not ours:
            await close_backend(cold)
        if warm is not None:
            await close_backend(warm)
        for store in stores:
            await asyncio.to_thread(wipe, store)
    return report


def run(
    golden: Golden,
    backend: str = "process",
    drivers: list[str] | None = None,
    n: int = 20,
    root: Path | None = None,
    cold_cache: bool = False,
) -> Report:
    """Run the launch benchmark; ``drivers`` defaults to every driver the store root supports."""
    names = supported_drivers(root, drivers)
    return asyncio.run(_run(backend, names, n, golden, root, cold_cache))
