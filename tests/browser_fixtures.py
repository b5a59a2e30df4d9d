"""One shared browser per test session, for the browser tests and the site tests that drive
one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from webserv.browser.session import BrowserPool


@pytest_asyncio.fixture(scope="session")
async def browser_pool() -> AsyncIterator[BrowserPool]:
    """One Chromium for the whole test session."""
    async with BrowserPool() as pool:
        yield pool
