"""The page reader of ``program_html``: reads the final site state on a page of its own.

It runs in its own browser context (logged in like the episode, as every role the task's
sites use), so evaluation never touches the agent's tabs, history or focus.
"""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from webserv.browser.session import BrowserPool
from webserv.browser.settle import SETTLE_SCRIPT, RequestTracker, wait_settled
from webserv.env.login import Credentials


class UnsupportedLocator(ValueError):
    """A WebArena ``func:`` locator: it calls WebArena's own Python helpers."""


class BrowserPageReader:
    """Opens each URL in a fresh page of a private context and reads the locator there."""

    def __init__(
        self,
        browsers: BrowserPool,
        credentials: Credentials,
        *,
        quiet_ms: int = 100,
        timeout_ms: int = 10_000,
    ) -> None:
        self._browsers = browsers
        self._credentials = credentials
        self.quiet_ms = quiet_ms
        self.timeout_ms = timeout_ms
        self._context: BrowserContext | None = None
        self._chromium: Any = None

    async def _ensure(self) -> BrowserContext:
        if self._context is None:
            self._context, self._chromium = await self._browsers.new_context(
                locale="en-US", timezone_id="UTC"
            )
            await self._context.add_init_script(SETTLE_SCRIPT)
            await self._credentials.apply(self._context)
        return self._context

    async def read(self, url: str, locator: str) -> str:
        """Open ``url`` and return the text ``locator`` selects.

        ``""`` reads the page's visible text (WebArena reads its HTML; the text is what a
        reference answer is written against, without markup or escapes). A JavaScript
        locator that fails (its element is missing) reads as "", as in WebArena.
        """
        if url.startswith("func:") or locator.startswith("func:"):
            raise UnsupportedLocator(f"func: helpers of WebArena are not supported: {locator}")
        context = await self._ensure()
        page = await context.new_page()
        try:
            tracker = RequestTracker(page)
            await page.goto(url, wait_until="commit", timeout=self.timeout_ms)
            deadline = asyncio.get_running_loop().time() + self.timeout_ms / 1000
            await wait_settled(page, tracker, self.quiet_ms, deadline)
            if not locator.strip():
                return await page.evaluate("() => document.body ? document.body.innerText : ''")
            try:
                value = await page.evaluate(f"() => {locator}")
            except PlaywrightError:
                return ""
            return "" if value is None else str(value)
        finally:
            await page.close()

    async def close(self) -> None:
        context, chromium = self._context, self._chromium
        self._context = self._chromium = None
        if context is not None:
            try:
                await context.close()
            except PlaywrightError:
                pass  # the browser is gone already
            await self._browsers.release(chromium)
