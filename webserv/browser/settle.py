"""Settle detection: wait until a page is done reacting, without fixed sleeps.

A page is settled when all of these hold at once:

* no document, fetch or XHR request is in flight, as seen by Playwright's request events
  (:class:`RequestTracker`) and by the fetch/XHR wrappers of ``settle.js``;
* no short timer (<= 500 ms, e.g. a debounced search) set by the page's own code, rather
  than by another timer, is still pending;
* neither the DOM nor the network changed for a quiet window (``quiet_ms``), counted from
  the later of the last change and the start of the wait, in the page and in every
  same-origin iframe (checked inside the page by ``settle.js``, without round trips);
* every such document has finished loading (``readyState == "complete"``).

The wait is capped: past the deadline the caller gets ``False`` and reports the observation
as not settled.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request

#: The init script every page gets before its own scripts run.
SETTLE_SCRIPT = resources.files(__package__).joinpath("settle.js").read_text()

# Pages without the init script (error pages) only need to have loaded.
_WAIT = """(args) => window.__wsSettle && window.__wsSettle.wait
  ? window.__wsSettle.wait(args)
  : new Promise((resolve) => document.readyState === 'complete' ? resolve(true)
      : window.addEventListener('load', () => resolve(true), { once: true }))"""


class RequestTracker:
    """Document, fetch and XHR requests of one page that have started and not yet ended."""

    KINDS = frozenset({"document", "fetch", "xhr"})

    def __init__(self, page: Page) -> None:
        self._inflight: set[Request] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _started(self, request: Request) -> None:
        if request.resource_type in self.KINDS:
            self._inflight.add(request)
            self._idle.clear()

    def _ended(self, request: Request) -> None:
        self._inflight.discard(request)
        if not self._inflight:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


async def wait_settled(page: Page, tracker: RequestTracker, quiet_ms: int, deadline: float) -> bool:
    """Wait until ``page`` is settled; False if ``deadline`` (event-loop time) came first.

    The quiet window counts from now at the earliest, so a change an action set off just
    before the wait (a navigation about to start) is not missed.
    """
    loop = asyncio.get_running_loop()
    since = time.time() * 1000  # the page's clock: performance.timeOrigin + performance.now()
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        args = {"quiet": quiet_ms, "since": since, "timeout": remaining * 1000}
        try:
            calm = await asyncio.wait_for(page.evaluate(_WAIT, args), remaining + 1)
        except TimeoutError:
            return False
        except PlaywrightError:
            if page.is_closed():
                return True
            # The document was replaced mid-wait (navigation); wait again on the new one.
            try:
                await page.wait_for_load_state(
                    "domcontentloaded", timeout=max(1.0, (deadline - loop.time()) * 1000)
                )
            except PlaywrightError:
                return False
            continue
        if not calm:
            return False
        if tracker.inflight == 0:
            return True
        try:
            await asyncio.wait_for(tracker.wait_idle(), deadline - loop.time())
        except TimeoutError:
            return False
