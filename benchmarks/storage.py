"""Storage per instance: bytes an instance owns exclusively after a 20-request shopping
episode (browse, search, sign in, add to cart, check out, sign out), per snapshot driver,
against a full copy of the golden data (the ``copy`` driver, what WebArena's per-instance
copy costs). Measured on disk by each driver's mechanism while the instance runs, after a
file system sync: btrfs ``filesystem du`` exclusive bytes, FIEMAP unshared extents for
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
    Golden,
    close_backend,
    discard,
    launch,
    load_average,
    load_note,
    make_backend,
    store_for,
    supported_drivers,
    wipe,
)
from benchmarks.report import Report
from webserv.pool.snapshot import SnapshotStore

EPISODE_REQUESTS = 20
#: The shop's form key, in every storefront page's head; state-changing requests carry it.
FORM_KEY = re.compile(r'<meta name="form-key" content="([^"]+)"')
#: The site the episode shops on: it reads the shop's database and walks the shop's pages.
EPISODE_SITE = "shop"


def check_site(site: str) -> None:
    """Raise unless the episode runs on ``site``."""
    if site != EPISODE_SITE:
        raise ValueError(f"the storage episode shops on site {EPISODE_SITE}; {site} has none")


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


async def _measure(
    backend_name: str,
    store: SnapshotStore,
    golden: Golden,
    inputs: dict,
    repeats: int,
    label: str,
) -> list[float]:
    backend = make_backend(backend_name, golden.site)
    samples = []
    try:
        async with httpx.AsyncClient() as client:
            for i in range(repeats):
                launched = await launch(backend, store, golden, client, f"bench-{label}-{i}")
                try:
                    count = await shopping_episode(launched.instance.url, inputs)
                    assert count == EPISODE_REQUESTS
                    await asyncio.to_thread(os.sync)
                    owned = await asyncio.to_thread(store.exclusive_bytes, launched.instance.id)
                    samples.append(owned)
                finally:
                    await discard(backend, store, launched.instance)
    finally:
        await close_backend(backend)
    return samples


async def _run(backend: str, drivers: list[str], repeats: int, golden: Golden, root: Path | None):
    inputs = _episode_inputs(golden.source)
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
            samples = await _measure(backend, store, golden, inputs, repeats, driver)
        finally:
            await asyncio.to_thread(wipe, store)
        variant = "full-copy" if driver == "copy" else driver
        report.add(variant, "exclusive_bytes", samples)
        if driver != "copy":
            report.compare("exclusive_bytes", variant, "full-copy")
    report.params["episode_requests"] = EPISODE_REQUESTS
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
