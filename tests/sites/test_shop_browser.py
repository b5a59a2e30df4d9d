"""The storefront's scripted parts in real Chromium: the first-visit dialog, search
suggestions, lazy reviews and add-to-cart without a reload."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from webserv.browser.chromium import pick_build


@pytest.mark.browser
async def test_storefront_scripts_in_chromium(shop_server: str, shop_data_dir: Path) -> None:
    conn = sqlite3.connect(shop_data_dir / "shop.db")
    product_id, name = conn.execute(
        "SELECT id, name FROM products WHERE status = 'enabled' AND stock > 5"
        " AND options_json = '{}' AND rating_count > 0 ORDER BY rating_count DESC LIMIT 1"
    ).fetchone()
    async with async_playwright() as pw:
        build = pick_build()
        browser = await pw.chromium.launch(executable_path=build.program, args=build.launch_args())
        try:
            page = await browser.new_page()
            await page.goto(shop_server)
            dialog = page.locator("#consent-dialog")
            await dialog.wait_for(state="visible")
            await page.get_by_role("button", name="Accept cookies and close").click()
            await dialog.wait_for(state="hidden")
            cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
            assert cookies["shop_consent"] == "1"

            await page.get_by_role("combobox", name="Search").fill(name.split()[-1])
            option = page.get_by_role("option").first
            await option.wait_for()
            assert (
                await page.get_by_role("combobox", name="Search").get_attribute("aria-expanded")
                == "true"
            )

            await page.goto(f"{shop_server}/products/{product_id}")
            assert await page.locator("#consent-dialog").count() == 0
            await page.locator("#reviews").scroll_into_view_if_needed()
            await page.locator("#review-list li.review").first.wait_for()
            await page.get_by_label("Qty").fill("2")
            url_before = page.url
            await page.get_by_role("button", name="Add to Cart", exact=True).click()
            await page.locator("#add-to-cart-message.success").wait_for()
            assert await page.locator("#cart-count").text_content() == "2"
            assert page.url == url_before
        finally:
            await browser.close()
