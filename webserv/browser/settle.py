"""Settle detection: wait until a page is done reacting, without fixed sleeps.

A page is settled when all of these hold at once:

* no document, fetch or XHR request is in flight, as seen by Playwright's request events
  (:class:`RequestTracker`) and by the fetch/XHR wrappers of ``settle.js``;
* neither the DOM nor the network changed for a quiet window (``quiet_ms``), counted from
  the later of the last change and the start of the wait, in the page and in every
  same-origin iframe;
* every such document has finished loading (``readyState == "complete"``).

The wait is capped: past the deadline the caller gets ``False`` and reports the observation
as not settled.
"""

from __future__ import annotations

import asyncio
import itertools
from importlib import resources

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

#: The init script every page gets before its own scripts run.
SETTLE_SCRIPT = resources.files(__package__).joinpath("settle.js").read_text()

#: How often the page-side predicate is re-evaluated while waiting.
POLL_MS = 25

_SETTLED = """({quiet, token}) => {
  const now = performance.timeOrigin + performance.now();
  if (!window.__wsSettleStart || window.__wsSettleStart.token !== token) {
    window.__wsSettleStart = { token, at: now };
  }
  const since = window.__wsSettleStart.at;
  const calm = (w) => {
    if (w.document.readyState !== 'complete') return false;
    const s = w.__wsSettle;
    if (s && (s.inflight > 0 || now - Math.max(s.lastActivity, since) < quiet)) return false;
    if (!s && now - since < quiet) return false;
    for (let i = 0; i < w.frames.length; i++) {
      let child = null;
      try { child = w.frames[i].document ? w.frames[i] : null; } catch (e) { child = null; }
      if (child && !calm(child)) return false;
    }
    return true;
  };
  return calm(window);
}"""

_tokens = itertools.count(1)


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
    """Wait until ``page`` is settled; False if ``deadline`` (event-loop time) came first."""
    loop = asyncio.get_running_loop()
    arg = {"quiet": quiet_ms, "token": next(_tokens)}
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        try:
            await page.wait_for_function(
                _SETTLED, arg=arg, polling=POLL_MS, timeout=remaining * 1000
            )
        except PlaywrightTimeoutError:
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
        if tracker.inflight == 0:
            return True
        try:
            await asyncio.wait_for(tracker.wait_idle(), deadline - loop.time())
        except TimeoutError:
            return False
