"""The page reader of ``program_html``: the pages its targets are read on.

A target URL opens in a browser context of its own (logged in like the episode, as every
role the task's sites use), so evaluation never touches the agent's tabs, history or focus;
a ``last`` target reads the agent's page as the episode left it, as WebArena does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from webserv.browser.session import BrowserPool
from webserv.browser.settle import SETTLE_SCRIPT, RequestTracker, wait_settled
from webserv.env.login import Credentials
from webserv.tasks.evaluators import ReaderPage


class BrowserPageReader:
    """Gives ``program_html`` its pages: a target URL opens in a fresh page of a private
    context, logged in like the episode and settled; ``last`` is the agent's own page."""

    def __init__(
        self,
        browsers: BrowserPool,
        credentials: Credentials,
        agent_page: Page | None = None,
        *,
        quiet_ms: int = 100,
        timeout_ms: int = 10_000,
    ) -> None:
        self._browsers = browsers
        self._credentials = credentials
        self._agent_page = agent_page
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

    async def open(self, url: str | None) -> Page:
        """A settled page on ``url``; ``None``: the agent's current page, as it is."""
        if url is None:
            if self._agent_page is None:
                raise ValueError("a program_html target reads the agent's page, which is closed")
            return self._agent_page
        context = await self._ensure()
        page = await context.new_page()
        tracker = RequestTracker(page)
        try:
            await page.goto(url, wait_until="commit", timeout=self.timeout_ms)
            deadline = asyncio.get_running_loop().time() + self.timeout_ms / 1000
            await wait_settled(page, tracker, self.quiet_ms, deadline)
        except PlaywrightError:
            pass  # WebArena reads whatever the page shows after its navigation
        return page

    async def done(self, page: ReaderPage) -> None:
        if page is not self._agent_page and isinstance(page, Page):
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
