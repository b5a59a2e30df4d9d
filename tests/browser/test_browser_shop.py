"""BrowserSession on the real shop: its fetch-driven parts, modal, selects, tabs and login."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from browser_helpers import element_id

from benchmarks.step import shop
from webserv.browser.session import BrowserPool, BrowserSession
from webserv.sites.shop.accounts import CUSTOMER

pytestmark = pytest.mark.browser

API_LATENCY_MS = 1_200


def _one(db: Path, sql: str) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()


def newest_review(db: Path, product_id: int) -> str:
    return _one(
        db,
        f"""SELECT title FROM reviews WHERE product_id = {product_id} AND status = 'approved'
            ORDER BY created_at DESC, id DESC LIMIT 1""",
    )[0]


def reviewed_simple_product(db: Path) -> tuple[int, str]:
    """A product in stock with approved reviews and no options (addable from a listing)."""
    return _one(
        db,
        """SELECT p.id, p.name FROM products p
           WHERE p.status = 'enabled' AND p.stock > 0 AND p.options_json = '{}'
             AND EXISTS (SELECT 1 FROM reviews r WHERE r.product_id = p.id
                         AND r.status = 'approved')
           ORDER BY p.id LIMIT 1""",
    )


async def _open(pool: BrowserPool, base: str) -> BrowserSession:
    session = await pool.new_session(allowed_hosts=[base.removeprefix("http://")])
    obs = await session.start(base + "/")
    assert obs.text.startswith("(a modal dialog is open")
    assert 'textbox "Email address"' in obs.text and "Shop by category" not in obs.text
    obs = await session.step(f'click("{element_id(obs, "button", "Accept cookies and close")}")')
    assert "Shop by category" in obs.text
    return session


async def test_shop_walk(browser_pool: BrowserPool, shop_server: str, shop_golden: Path):
    db = shop_golden / "shop.db"
    product_id, name = reviewed_simple_product(db)
    session = await _open(browser_pool, shop_server)
    try:
        obs = await session.observe()
        search = element_id(obs, "combobox", "Search")
        # Suggestions arrive by fetch after a debounce; the settled observation shows them.
        obs = await session.step(f'type("{search}", {name.split()[0]!r})')
        line = next(ln for ln in obs.text.splitlines() if ln.startswith(f"[{search}] "))
        assert f'value="{name.split()[0]}"' in line and "expanded" in line
        assert f'link "{name}' in obs.text
        obs = await session.step(f'type("{search}", {name!r}, submit=True)')
        assert "/search?q=" in obs.url
        # Add to cart without a reload: the header's cart link changes.
        obs = await session.step(f'click("{element_id(obs, "button", f"Add {name} to cart")}")')
        assert 'link "Shopping cart, 1 item"' in obs.text
        obs = await session.step(f'click("{element_id(obs, "link", name)}")')
        assert obs.url.endswith(f"/products/{product_id}")
        # Reviews load when their section scrolls into view.
        reviews_link = next(
            line.split("]")[0][1:] for line in obs.text.splitlines() if " review" in line
        )
        obs = await session.step(f'click("{reviews_link}")')
        assert newest_review(db, product_id) in obs.text
        # A target=_blank link opens a tab, which becomes the observed one.
        brand = next(
            line.split("]")[0][1:] for line in obs.text.splitlines() if "(opens new tab)" in line
        )
        obs = await session.step(f'click("{brand}")')
        assert len(obs.tabs) == 2 and obs.tabs[1].active
        obs = await session.step("close_tab()")
        assert len(obs.tabs) == 1
        # A select that submits its form on change.
        obs = await session.step('goto("/search?q=e")')
        obs = await session.step(
            f'select("{element_id(obs, "combobox", "Sort by")}", "Price: low to high")'
        )
        assert "sort=price_asc" in obs.url
        obs = await session.step(f'click("{element_id(obs, "link", "Next page")}")')
        assert "page=2" in obs.url
        # Login.
        obs = await session.step('goto("/account/login")')
        await session.step(f'type("{element_id(obs, "textbox", "Email")}", "{CUSTOMER.login}")')
        obs = await session.step(
            f'type("{element_id(obs, "textbox", "Password")}", "{CUSTOMER.password}", submit=True)'
        )
        assert "Welcome, Emma Lopez!" in obs.text
    finally:
        await session.close()


async def test_slow_api_data_is_in_the_observation(browser_pool: BrowserPool, shop_golden: Path):
    db = shop_golden / "shop.db"
    product_id, name = reviewed_simple_product(db)
    with shop(shop_golden, latency_ms=API_LATENCY_MS) as base:
        session = await _open(browser_pool, base)
        try:
            obs = await session.step(f'goto("/products/{product_id}")')
            reviews_link = next(
                line.split("]")[0][1:] for line in obs.text.splitlines() if " review" in line
            )
            obs = await session.step(f'click("{reviews_link}")')
            assert obs.settled and obs.settle_ms >= API_LATENCY_MS
            assert newest_review(db, product_id) in obs.text
            assert "Loading reviews" not in obs.text
            obs = await session.step(f'type("{element_id(obs, "combobox", "Search")}", "{name}")')
            assert f'link "{name}' in obs.text
        finally:
            await session.close()
