"""Storage per instance: bytes an instance owns exclusively after a 20-step episode, per
snapshot driver, against a full copy of the golden data (the ``copy`` driver, what WebArena's
per-instance copy costs). On the embedded shop the episode is 20 requests (browse, search,
sign in, add to cart, check out, sign out); on any other site it is 20 browser actions: the
reference solutions of the state-changing tasks of the site's suite, in order, replayed in a
real browser on the instance (after the site's launch hook, as a pool hands it out).
Measured on disk by each driver's mechanism while the instance runs, after a file system
sync: btrfs ``filesystem du`` exclusive bytes, FIEMAP unshared extents for
reflink and for overlay's upper dir (on btrfs the kernel reflinks a file copied up), allocated
blocks for the copy.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from pathlib import Path

import httpx

from benchmarks.pool_setup import (
    OWNER,
    Golden,
    close_backend,
    load_average,
    load_note,
    make_backend,
    store_for,
    supported_drivers,
    wipe,
)
from benchmarks.report import Report
from webserv.pool.manager import PoolManager, PoolSite
from webserv.pool.snapshot import SnapshotStore

EPISODE_REQUESTS = 20
#: The shop's form key, in every storefront page's head; state-changing requests carry it.
FORM_KEY = re.compile(r'<meta name="form-key" content="([^"]+)"')
#: The site whose episode is plain HTTP requests: it reads the shop's database.
HTTP_EPISODE_SITE = "shop"


def check_site(site: str) -> None:
    """Raise unless ``site`` has an episode: the shop's, or its suite's state changes."""
    from webserv.sites.registry import get

    if site != HTTP_EPISODE_SITE and not get(site).suites():
        raise ValueError(f"site {site} has no task suite to take a storage episode from")


def _episode_inputs(data_dir: Path) -> dict:
    """Product ids, a category, a search word and the customer's address, from the data."""
    from webserv.sites.shop.accounts import CUSTOMER
    from webserv.sites.shop.storefront.checkout import FIELDS

    conn = sqlite3.connect(f"file:{data_dir / 'shop.db'}?mode=ro", uri=True)
    try:
        products = conn.execute(
            "SELECT id, name FROM products WHERE status = 'enabled' AND stock >= 10 "
            "AND options_json = '{}' ORDER BY id LIMIT 3"
        ).fetchall()
        slug = conn.execute("SELECT slug FROM categories ORDER BY id LIMIT 1").fetchone()[0]
        columns = ", ".join(FIELDS)
        address = conn.execute(
            f"SELECT {columns} FROM customers WHERE email = ?", (CUSTOMER.login,)
        ).fetchone()
    finally:
        conn.close()
    return {
        "products": [row[0] for row in products],
        "word": products[0][1].split()[0],
        "category": slug,
        "address": dict(zip(FIELDS, (str(v) for v in address), strict=True)),
        "login": {"email": CUSTOMER.login, "password": CUSTOMER.password},
    }


async def shopping_episode(url: str, inputs: dict) -> int:
    """Run the 20-request episode against one instance; return the number of requests."""
    first, second, third = inputs["products"]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        steps: list[tuple[str, str, dict | None]] = [
            ("GET", "/", None),
            ("GET", f"/search?q={inputs['word']}", None),
            ("GET", f"/api/suggest?q={inputs['word'][:3]}", None),
            ("GET", f"/category/{inputs['category']}", None),
            ("GET", f"/products/{first}", None),
            ("GET", f"/api/products/{first}/reviews", None),
            ("GET", f"/products/{second}", None),
            ("POST", "/cart/add", {"product_id": str(second), "qty": "1"}),
            ("GET", "/cart", None),
            ("GET", "/account/login", None),
            ("POST", "/account/login", inputs["login"]),
            ("GET", "/account", None),
            ("GET", f"/products/{third}", None),
            ("POST", "/cart/add", {"product_id": str(third), "qty": "2"}),
            ("GET", "/cart", None),
            ("GET", "/checkout", None),
            ("POST", "/checkout", {**inputs["address"], "shipping_method": "standard"}),
            ("GET", "/account/orders", None),
            ("GET", f"/products/{first}", None),
            ("POST", "/account/logout", None),
        ]
        form_key = ""
        for method, path, form in steps:
            # Posts carry the form key of the page before them, as the shop's own pages do.
            headers = {"X-Form-Key": form_key} if method == "POST" else None
            response = await client.request(method, path, data=form, headers=headers)
            if response.status_code >= 400:
                raise RuntimeError(f"{method} {path} answered {response.status_code}")
            if found := FORM_KEY.search(response.text):
                form_key = found.group(1)
        return len(steps)


async def browser_episode(golden: Golden, url: str, actions: int = EPISODE_REQUESTS) -> int:
    """Replay the reference solutions of the suite's state-changing tasks on the instance at
    ``url`` until ``actions`` actions ran; return how many ran."""
    from webserv.env.config import SiteConfig, runtime_for
    from webserv.env.runner import run_suite
    from webserv.env.runtime import EnvRuntime
    from webserv.sites.registry import default_suite
    from webserv.tasks.suite import load_suite

    suite = load_suite(default_suite(golden.site.name))
    chosen, planned = [], 0
    for task in suite.tasks:
        if planned >= actions:
            break
        if "program_html" in task.eval.eval_types and task.reference_solution:
            chosen.append(task.task_id)
            planned += len(task.reference_solution)
    site = SiteConfig(name=golden.site.name, backend="url", url=url, standby=0)
    runtime = await EnvRuntime(runtime_for(suite, [site])).start()
    try:
        report = await run_suite(suite, parallel=1, task_ids=chosen, runtime=runtime)
    finally:
        await runtime.close()
    failed = [r.task_id for r in report.results if not r.success]
    if failed:
        raise RuntimeError(f"storage episode: tasks {failed} failed on {url}")
    return sum(r.steps for r in report.results)


async def _measure(
    backend_name: str,
    store: SnapshotStore,
    golden: Golden,
    inputs: dict | None,
    repeats: int,
    label: str,
) -> tuple[list[float], int]:
    """Exclusive bytes of ``repeats`` instances after their episode, and its length."""
    backend = make_backend(backend_name, golden.site)
    samples, steps = [], 0
    pool_site = PoolSite(golden.site.spec, golden.name, standby=0)
    pool_site.after_launch = golden.site.after_launch
    try:
        async with PoolManager(backend, store, [pool_site], owner=f"{OWNER}-{label}") as pool:
            for _ in range(repeats):
                lease = await pool.acquire(golden.site.name)
                try:
                    if inputs is not None:
                        steps = await shopping_episode(lease.url, inputs)
                    else:
                        steps = await browser_episode(golden, lease.url)
                    await asyncio.to_thread(os.sync)
                    samples.append(
                        await asyncio.to_thread(store.exclusive_bytes, lease.instance.id)
                    )
                finally:
                    await pool.release(lease.id)
                    await pool.drain()
    finally:
        await close_backend(backend)
    return samples, steps


async def _run(backend: str, drivers: list[str], repeats: int, golden: Golden, root: Path | None):
    shop = golden.site.name == HTTP_EPISODE_SITE
    inputs = _episode_inputs(golden.source) if shop else None
    report = Report(
        benchmark="storage",
        params={
            "site": golden.site.name,
            "golden": golden.name,
            "backend": backend,
            "drivers": drivers,
            "repeats": repeats,
            "load_average": {"start": load_average()},
        },
        notes=[load_note("at start")],
    )
    for driver in ["copy", *[d for d in drivers if d != "copy"]]:
        store = store_for(driver, golden, root)
        try:
            report.params.setdefault("golden_bytes", store.golden_bytes(golden.name))
            samples, steps = await _measure(backend, store, golden, inputs, repeats, driver)
        finally:
            await asyncio.to_thread(wipe, store)
        variant = "full-copy" if driver == "copy" else driver
        report.add(variant, "exclusive_bytes", samples)
        if driver != "copy":
            report.compare("exclusive_bytes", variant, "full-copy")
    report.params["episode"] = "http requests" if shop else "browser actions"
    report.params["episode_steps"] = steps
    report.params["load_average"]["end"] = load_average()
    return report


def run(
    golden: Golden,
    backend: str = "process",
    drivers: list[str] | None = None,
    repeats: int = 3,
    root: Path | None = None,
) -> Report:
    """Run the storage benchmark for every requested driver that the store root supports."""
    check_site(golden.site.name)
    names = supported_drivers(root, drivers)
    return asyncio.run(_run(backend, names, repeats, golden, root))
