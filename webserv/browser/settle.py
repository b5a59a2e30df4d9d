"""Settle detection: wait until a page is done reacting, without fixed sleeps.

A page is settled when all of these hold at once:

* no document, fetch or XHR request is in flight, as seen by Playwright's request events
  (:class:`RequestTracker`) and by the fetch/XHR wrappers of ``settle.js``;
* no short timer (<= 500 ms, e.g. a debounced search) set by the page's own code, rather
  than by another timer, is still pending, nor a longer one up to the timer horizon (a
  preview drawn 2 s after the last keystroke) that the page's own code set since the action
  began, unless timers of its kind (delay and code) have been seen to change nothing;
* neither the DOM, the network nor the page's input (clicks, keys, typing, scrolling, started
  navigations) changed for a quiet window, counted from the later of the page's own last
  activity and ``since`` (the start of the action), in the page and in every same-origin
  iframe (checked inside the page by ``settle.js``, woken by a timer set for the moment the
  window can have passed, or by the browser finding the page idle, without round trips);
* every such document has finished loading (``readyState == "complete"``).

The quiet window is ``quiet_ms``, or the shorter ``idle_quiet_ms`` once the browser itself
reports the document idle: an idle callback (``requestIdleCallback``, which runs only when no
task, timer or frame work is queued) ran after the last activity, no animation frame callback is
pending and no animation or transition is running. A page that keeps drawing, animating or
reacting never proves idle and gets the full window.

Counting from the page's own timestamps means the time an action takes to return (Playwright's
actionability checks, the wait for a navigation to commit) already counts toward the quiet
window. The wait is capped: past the deadline the caller gets ``calm=False`` and reports the
observation as not settled. A caller may pass a script (the DOM capture) to run in the same
round trip, the moment the wait ends.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request

from webserv.browser.scripts import script

_SETTLE_JS = script("settle.js")
#: How far ahead settle follows the timers an action sets, by default.
TIMER_HORIZON_MS = 3_000


def settle_script(timer_horizon_ms: int = TIMER_HORIZON_MS) -> str:
    """The init script every page gets before its own scripts run."""
    return f"({_SETTLE_JS})({int(timer_horizon_ms)});"


SETTLE_SCRIPT = settle_script()

_WAIT = script("wait.js")


@lru_cache(maxsize=4)
def _wait_then(then: str) -> str:
    return _WAIT.replace("THEN", then)


@dataclass(frozen=True)
class Settled:
    """How a wait ended: calm (False when the deadline came first), what ``then`` returned
    (None if it did not run), when the wait ended, when the page last opened a new tab
    (wall-clock ms, 0 for never), and what the page was still doing then (requests in flight,
    timers due, animations)."""

    calm: bool
    value: Any = None
    at: float | None = None
    tab_opened_at: float = 0.0
    pending: tuple[str, ...] = ()
    #: The page's last activity (wall-clock ms) when the wait ended.
    latest: float | None = None
    #: The wait ended early, with only the quiet window left (see ``wait_settled``).
    window_left: bool = False


def now_ms() -> float:
    """The wall clock in ms, the clock ``settle.js`` stamps activity with."""
    return time.time() * 1000


class RequestTracker:
    """Document, fetch and XHR requests of one page that have started and not yet ended,
    and why the page's last load failed (``load_error``, e.g. ``http://...: net::ERR_...``)."""

    KINDS = frozenset({"document", "fetch", "xhr"})

    def __init__(self, page: Page) -> None:
        self._inflight: set[Request] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._page = page
        self.load_error: str | None = None
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._failed)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def describe(self) -> list[str]:
        """The requests in flight, as the settle report lists them."""
        return [f"request {request.url}" for request in list(self._inflight)[:10]]

    def _loads_page(self, request: Request) -> bool:
        return request.is_navigation_request() and request.frame == self._page.main_frame

    def _started(self, request: Request) -> None:
        if request.resource_type in self.KINDS:
            self._inflight.add(request)
            self._idle.clear()
        if self._loads_page(request):
            self.load_error = None

    def _failed(self, request: Request) -> None:
        if self._loads_page(request):
            self.load_error = f"{request.url}: {request.failure}"
        self._ended(request)

    def _ended(self, request: Request) -> None:
        self._inflight.discard(request)
        if not self._inflight:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


async def _replaced(page: Page, deadline: float) -> bool:
    """Whether the page's document was replaced mid-wait (a navigation) by one that has
    loaded since; wait on the new one then."""
    remaining_ms = (deadline - asyncio.get_running_loop().time()) * 1000
    try:
        await page.wait_for_load_state("domcontentloaded", timeout=max(1.0, remaining_ms))
    except PlaywrightError:
        return False
    return True


def _ended(result: dict[str, Any], tracker: RequestTracker) -> Settled | None:
    """How a wait the page answered with ``result`` ended; None when requests still in flight
    hold it open."""
    if result["calm"] == "window":
        if tracker.inflight == 0:
            return Settled(False, at=result["at"], latest=result["latest"], window_left=True)
        return None
    if result["calm"] and tracker.inflight:
        return None
    pending = dict.fromkeys([*tracker.describe(), *result["pending"]])
    return Settled(
        result["calm"],
        result["value"],
        result["at"],
        result["tab"],
        tuple(pending),
        result["latest"],
    )


async def wait_settled(
    page: Page,
    tracker: RequestTracker,
    quiet_ms: int,
    deadline: float,
    idle_quiet_ms: int | None = None,
    since: float | None = None,
    then: str = "() => null",
    arg: Any = None,
    early: bool = False,
) -> Settled:
    """Wait until ``page`` is settled, capped at ``deadline`` (event-loop time).

    ``idle_quiet_ms`` (default: ``quiet_ms``) is the window once the page proves idle. The
    quiet window counts from ``since`` (wall-clock ms, see :func:`now_ms`; default now) at
    the earliest, so a change an action set off without any trace in the page yet (a navigation
    about to start) is not missed. ``then`` is a JS function run on ``arg`` in the page when
    the wait ends; its result is returned unless the page turned out not to be settled after
    all. With ``early``, the wait ends (``window_left``, nothing run) as soon as only the quiet
    window is left: what the page shows then is what it will show when settled, unless its
    ``latest`` activity turns out later than that.
    """
    loop = asyncio.get_running_loop()
    expression = _wait_then(then)
    since = now_ms() if since is None else since
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return Settled(False, pending=tuple(tracker.describe()))
        wait = {
            "quiet": quiet_ms,
            "idleQuiet": quiet_ms if idle_quiet_ms is None else min(idle_quiet_ms, quiet_ms),
            "since": since,
            "timeout": remaining * 1000,
            "early": early,
        }
        try:
            result = await asyncio.wait_for(
                page.evaluate(expression, {"wait": wait, "arg": arg}), remaining + 1
            )
        except TimeoutError:
            return Settled(False, pending=tuple(tracker.describe()))
        except PlaywrightError:
            if page.is_closed():
                return Settled(True)
            if await _replaced(page, deadline):
                continue
            return Settled(False, pending=tuple(tracker.describe()))
        if (settled := _ended(result, tracker)) is not None:
            return settled
        try:
            await asyncio.wait_for(tracker.wait_idle(), deadline - loop.time())
        except TimeoutError:
            return Settled(False, pending=tuple(tracker.describe()))
