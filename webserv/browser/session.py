"""Browser sessions on Playwright's async API and the system Chromium.

:class:`BrowserPool` owns the one Chromium of a process and hands out :class:`BrowserSession`
objects, each with its own browser context (cookies, storage, tabs). The browser is replaced by
a fresh one after ``recycle_after`` contexts (long-lived browsers leak memory) and when it
crashes; a session whose browser died reopens its tabs on the new browser at its next step, so
only the step in flight reports the failure.

Usage::

    async with BrowserPool() as pool:
        session = await pool.new_session(allowed_hosts=["127.0.0.1:8000"], goal="Buy a lamp")
        obs = await session.start("http://127.0.0.1:8000/")
        obs = await session.step('click("12")')
        await session.close()
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from playwright.async_api import Browser, BrowserContext, Dialog, Locator, Page, Playwright
from playwright.async_api import Error as PlaywrightError
from pydantic import Field

from webserv.browser.actions import Action, ActionError, parse
from webserv.browser.chromium import BrowserBuild, pick_build
from webserv.browser.guard import NO_EXTENSIONS, ClosedPort, UrlGuard, confine_webrtc
from webserv.browser.observation import Observation, Rendered, Tab, render
from webserv.browser.screenshot import ScreenshotOptions, Screenshots
from webserv.browser.scripts import script
from webserv.browser.settle import (
    TIMER_HORIZON_MS,
    RequestTracker,
    now_ms,
    settle_script,
    wait_settled,
)
from webserv.browser.som import overlay
from webserv.ksm import children_merged

#: Where Chromium puts a tab whose page could not be loaded.
ERROR_PAGE = "chrome-error://"
TAB_CLOSED = "the last tab closed itself; a new blank tab was opened"
CAPTURE_SCRIPT = script("capture.js")
CAPTURE_OPTIONS = {"maxName": 100, "maxOptions": 25}
#: How long to wait for a tab the page opened to show up in the browser.
TAB_WAIT_S = 2.0
CRASHED = (
    "the browser stopped during this step and was replaced; the tabs were reopened "
    "(cookies the site set and unsaved form input were lost)"
)


class SessionConfig(ScreenshotOptions):
    """How a session waits, what it renders and how big its pages are."""

    quiet_ms: int = Field(200, ge=0, description="DOM/network quiet window that means settled.")
    idle_quiet_ms: int = Field(
        50,
        ge=0,
        description="The quiet window once the browser reports the page idle (an idle callback "
        "ran, no animation frame or animation pending); set it to quiet_ms to always wait "
        "the full window.",
    )
    settle_timeout_ms: int = Field(10_000, gt=0, description="Hard cap on one settle wait.")
    timer_horizon_ms: int = Field(
        TIMER_HORIZON_MS,
        ge=0,
        description="Settle also waits for timers of up to this delay that the page set since "
        "the action began (kinds of timer seen to change nothing excepted).",
    )
    action_timeout_ms: int = Field(3_000, gt=0, description="Wait for an element to be ready.")
    token_budget: int = Field(2_000, gt=0, description="Upper bound on observation tokens.")
    viewport_width: int = 1280
    viewport_height: int = 720
    som: bool = Field(False, description="Draw the element ids onto the screenshot.")
    screenshot_early: bool = Field(
        True,
        description="Start the screenshot as soon as only the settle wait's quiet window is "
        "left (kept if the page did nothing after it started); False: after the DOM capture.",
    )
    park_after_s: float | None = Field(
        None,
        gt=0,
        description="Park a session idle this long: its pages close (their renderer's memory "
        "goes) and the context stays; the next action reopens the tabs at their URLs "
        "(None: never).",
    )
    har_path: Path | None = Field(
        None,
        description="Record the session's network traffic as HAR here (written when the "
        "session closes); WebArena-Verified scores tasks on it.",
    )


@dataclass(frozen=True)
class StepTimings:
    """Where the last observation's time went, in ms: the action before it, the wait for the
    page to settle, the DOM capture (in the page, and its transfer), rendering the text, and
    the screenshot (started while the quiet window passes, or while the text renders when
    the page changed meanwhile: ``screenshot_wait_ms`` is what it added to the observation
    beyond that)."""

    action_ms: float = 0.0
    settle_ms: float = 0.0
    capture_ms: float = 0.0
    render_ms: float = 0.0
    screenshot_ms: float = 0.0
    screenshot_wait_ms: float = 0.0


@dataclass(frozen=True)
class _Drawn:
    """What an observation shows of its page, and what showing it took."""

    rendered: Rendered
    tabs: list[Tab]
    image: bytes | None
    render_ms: float
    screenshot_ms: float
    screenshot_wait_ms: float

    def timings(self, action_ms: float, settle_ms: float, capture_ms: float) -> StepTimings:
        """The observation's timings, given what came before the drawing."""
        return StepTimings(
            action_ms=round(action_ms, 1),
            settle_ms=round(settle_ms, 1),
            capture_ms=round(capture_ms, 1),
            render_ms=round(self.render_ms, 1),
            screenshot_ms=round(self.screenshot_ms, 1),
            screenshot_wait_ms=round(self.screenshot_wait_ms, 1),
        )


@dataclass(eq=False)
class _Settled:
    """Where an observation's settle wait ended: the tab shown and its capture."""

    page: Page
    calm: bool
    capture: str | None
    captured_at: float | None
    pending: tuple[str, ...]
    #: The screenshot started early, if the page did nothing after it started.
    shooting: asyncio.Future[tuple[bytes | None, float]] | None


@dataclass(eq=False)
class _Chromium:
    """One launched browser and the contexts it has served."""

    browser: Browser
    contexts_made: int = 0
    live: int = 0
    retired: bool = False
    gone: asyncio.Event = field(default_factory=asyncio.Event)


#: Launches tried before giving up on confining a new browser's WebRTC (a slow start can
#: miss the policy page's report once).
LAUNCH_ATTEMPTS = 2


class BrowserPool:
    """The process's Chromium, recycled after ``recycle_after`` contexts or when it crashes.

    ``build`` names the Chromium build (see :mod:`.chromium`; default: the headless shell when
    installed and ``headless``, else the full browser). With ``merge_memory``, Playwright's
    driver and the browsers it launches are marked for the kernel's same-page merging (see
    :mod:`webserv.ksm`).
    """

    def __init__(
        self,
        *,
        recycle_after: int = 200,
        build: BrowserBuild | None = None,
        headless: bool = True,
        merge_memory: bool = False,
    ) -> None:
        self.recycle_after = recycle_after
        self.merge_memory = merge_memory
        self.build = pick_build(build, headless=headless)
        self.headless = headless
        self.launches = 0
        self._playwright: Playwright | None = None
        self._current: _Chromium | None = None
        self._lock = asyncio.Lock()
        self._closed_port: ClosedPort | None = None

    async def __aenter__(self) -> BrowserPool:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> BrowserPool:
        from playwright.async_api import async_playwright

        if self._playwright is None:
            with children_merged(self.merge_memory):
                self._playwright = await async_playwright().start()
        return self

    async def close(self) -> None:
        if self._current is not None and self._current.browser.is_connected():
            await self._current.browser.close()
        self._current = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
        if self._closed_port is not None:
            self._closed_port.close()
            self._closed_port = None

    @property
    def closed_port(self) -> ClosedPort:
        """The refusing proxy of this pool's guarded contexts (see :mod:`.guard`)."""
        if self._closed_port is None:
            self._closed_port = ClosedPort()
        return self._closed_port

    async def _launch(self) -> _Chromium:
        if self._playwright is None:
            await self.start()
        assert self._playwright is not None
        for attempt in range(LAUNCH_ATTEMPTS):
            browser = await self._playwright.chromium.launch(
                executable_path=self.build.program,
                args=self.build.launch_args(),
                ignore_default_args=[NO_EXTENSIONS] if self.build.policy_by_extension else None,
                headless=self.headless,
            )
            if not self.build.policy_by_extension:
                break  # the flag set the policy
            try:
                await confine_webrtc(browser)
                break
            except RuntimeError:
                await browser.close()
                if attempt + 1 == LAUNCH_ATTEMPTS:
                    raise  # never hand out a browser whose WebRTC is not confined
            except BaseException:
                await browser.close()
                raise
        self.launches += 1
        chromium = _Chromium(browser)
        browser.on("disconnected", lambda _: self._gone(chromium))
        return chromium

    def _gone(self, chromium: _Chromium) -> None:
        chromium.gone.set()
        if self._current is chromium:
            self._current = None

    async def new_context(self, **options: Any) -> tuple[BrowserContext, _Chromium]:
        """A fresh context on a live browser, launching or recycling the browser as needed."""
        async with self._lock:
            current = self._current
            if current is None or not current.browser.is_connected() or current.retired:
                current = self._current = await self._launch()
            current.contexts_made += 1
            current.live += 1
            if current.contexts_made >= self.recycle_after:
                current.retired = True
        try:
            context = await current.browser.new_context(**options)
        except PlaywrightError:
            await self.release(current)
            raise
        return context, current

    async def release(self, chromium: _Chromium) -> None:
        """A context of ``chromium`` is closed; a retired browser goes when its last one does."""
        chromium.live -= 1
        if chromium.retired and chromium.live <= 0 and chromium.browser.is_connected():
            await chromium.browser.close()

    async def new_session(
        self,
        *,
        allowed_hosts: Iterable[str] | None = None,
        goal: str = "",
        config: SessionConfig | None = None,
    ) -> BrowserSession:
        """A session with one blank tab; ``allowed_hosts`` (``host`` or ``host:port``) arms
        the URL guard, None leaves every host reachable."""
        session = BrowserSession(
            self,
            config or SessionConfig(),
            UrlGuard(allowed_hosts) if allowed_hosts is not None else None,
            goal,
        )
        await session._open(["about:blank"], 0)
        return session


class BrowserSession:
    """One env's browser context: its tabs, its observations, its actions."""

    def __init__(
        self, pool: BrowserPool, config: SessionConfig, guard: UrlGuard | None, goal: str
    ) -> None:
        self.config = config
        self.goal = goal
        self.answer: str | None = None
        self._pool = pool
        self._guard = guard
        self._context: BrowserContext | None = None
        self._chromium: _Chromium | None = None
        self._pages: list[Page] = []
        self._active: Page | None = None
        self._trackers: dict[Page, RequestTracker] = {}
        # The tabs as last observed and the cookies given, restored if the browser dies.
        self._cookies: list[dict[str, Any]] = []
        self._headers: dict[str, str] = {}
        self._last_tabs: list[str] = ["about:blank"]
        self._last_active = 0
        # When the last action started (wall-clock ms) and how long it took, for the next
        # observation; dialogs the pages opened since the last observation.
        self._acted_at: float | None = None
        self._action_ms = 0.0
        self._dialogs: list[str] = []
        self._tasks: set[asyncio.Future[None]] = set()
        self._tab_adopted = asyncio.Event()
        # Landmarks the agent unfolded (by key), and the ids of those the last observation
        # showed as foldable.
        self._expanded: set[str] = set()
        self._landmark_ids: dict[str, str] = {}
        self._screenshots = Screenshots()
        # Parked: the tabs are closed until the next call reopens them (see park()).
        self.parked = False
        self._park_timer: asyncio.TimerHandle | None = None
        #: Where the last observation's time went.
        self.timings = StepTimings()
        #: The element the last action named, as the observation before it showed it: its
        #: id, box [x, y, w, h] and the point a click lands on (the box's centre), in the
        #: screenshot's pixels; None when the action named none the page showed.
        self.last_target: dict[str, Any] | None = None
        self._boxes: dict[str, tuple[int, int, int, int]] = {}  # the last observation's

    # ---- lifecycle -----------------------------------------------------------------------

    async def _open(self, urls: list[str], active: int) -> None:
        guarded: dict[str, Any] = {}
        if self._guard is not None:
            guarded["proxy"] = self._guard.proxy(self._pool.closed_port)
        if self.config.har_path is not None:
            guarded["record_har_path"] = str(self.config.har_path)
            guarded["record_har_content"] = "embed"
        self._context, self._chromium = await self._pool.new_context(
            viewport={"width": self.config.viewport_width, "height": self.config.viewport_height},
            locale="en-US",
            timezone_id="UTC",
            **guarded,
        )
        self._pages, self._trackers, self._active = [], {}, None
        if self._guard is not None:
            await self._guard.watch(self._context)
        await self._context.add_init_script(settle_script(self.config.timer_horizon_ms))
        if self._cookies:
            await self._context.add_cookies(self._cookies)  # type: ignore[arg-type]  # cookie dicts as Playwright read them
        if self._headers:
            await self._context.set_extra_http_headers(self._headers)
        self._context.on("page", self._adopt)
        await self._reopen(urls, active)

    async def _reopen(self, urls: list[str], active: int) -> None:
        """Open ``urls`` as the context's tabs, ``active`` the current one."""
        assert self._context is not None
        for url in urls:
            page = await self._context.new_page()
            self._adopt(page)
            if url != "about:blank":
                try:
                    await page.goto(url, wait_until="commit", timeout=self.config.settle_timeout_ms)
                except PlaywrightError:
                    pass  # the observation shows whatever the tab ended up on
        self._active = self._pages[min(active, len(self._pages) - 1)]

    async def park(self) -> None:
        """Let go of what an idle session holds: its tabs close, so their renderer process
        and its memory go, while the context (cookies, storage, cache) stays. The next action
        or observation reopens the tabs last observed, at their URLs; what only lived in a
        page is gone (unsaved form input, scroll position, each tab's back/forward history).
        """
        self._cancel_park()
        if self.parked or not self.alive or not self._pages:
            return
        pages = list(self._pages)
        # Forgotten first: a call arriving while they close reopens fresh tabs.
        self.parked, self._pages, self._trackers, self._active = True, [], {}, None
        self._screenshots.forget()
        for page in pages:
            try:
                await page.close()
            except PlaywrightError:
                pass  # the browser went away: the next call recovers as after a crash

    async def _unpark(self) -> None:
        self._cancel_park()
        if not self.parked:
            return
        self.parked = False
        if self.alive:
            await self._reopen(self._last_tabs, self._last_active)

    def _schedule_park(self) -> None:
        self._cancel_park()
        if self.config.park_after_s is not None:
            loop = asyncio.get_running_loop()
            self._park_timer = loop.call_later(self.config.park_after_s, self._park_soon)

    def _park_soon(self) -> None:
        task = asyncio.ensure_future(self.park())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_park(self) -> None:
        if self._park_timer is not None:
            self._park_timer.cancel()
            self._park_timer = None

    def _adopt(self, page: Page) -> None:
        if page in self._trackers:
            return
        self._trackers[page] = RequestTracker(page)
        self._pages.append(page)
        self._active = page
        self._tab_adopted.set()
        page.on("close", self._forget)
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Dialog) -> None:
        """Accept a JS dialog (it blocks the page until answered) and note it for the next
        observation, so the agent learns that it appeared and what it said."""
        message = json.dumps(dialog.message.strip()[:200], ensure_ascii=False)
        if dialog.type == "alert":
            note = f"an alert said {message}; it was dismissed"
        elif dialog.type == "confirm":
            note = f"a confirm dialog asked {message}; it was answered OK"
        elif dialog.type == "prompt":
            answer = json.dumps(dialog.default_value, ensure_ascii=False)
            note = f"a prompt asked {message}; it was answered {answer}"
        else:
            note = "the page asked to confirm leaving it; leaving was confirmed"
        self._dialogs.append(f"({note})")
        task = asyncio.ensure_future(_accept(dialog))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take_dialogs(self) -> list[str]:
        dialogs, self._dialogs = self._dialogs, []
        return dialogs

    def _forget(self, page: Page) -> None:
        if page in self._pages:
            self._pages.remove(page)
            self._trackers.pop(page, None)
        if self._active is page:
            self._active = self._pages[-1] if self._pages else None

    async def add_cookies(self, cookies: list[dict[str, Any]]) -> None:
        """Add cookies (e.g. a login session) to the context; kept across browser crashes."""
        assert self._context is not None
        self._cookies.extend(cookies)
        await self._context.add_cookies(cookies)  # type: ignore[arg-type]  # cookie dicts as Playwright read them

    async def set_extra_http_headers(self, headers: dict[str, str]) -> None:
        """Send ``headers`` (e.g. a login token) with every request; kept across crashes."""
        assert self._context is not None
        self._headers.update(headers)
        await self._context.set_extra_http_headers(self._headers)

    @property
    def alive(self) -> bool:
        return self._chromium is not None and self._chromium.browser.is_connected()

    async def close(self) -> None:
        """Close the context and give it back to the pool."""
        self._cancel_park()
        context, chromium = self._context, self._chromium
        self._context = self._chromium = None
        self._screenshots.forget()
        if context is not None and chromium is not None:
            if chromium.browser.is_connected():
                try:
                    await context.close()
                except PlaywrightError:
                    pass  # the browser went away while closing: nothing is left to close
            await self._pool.release(chromium)

    async def _recover(self) -> None:
        """Reopen the last observed tabs on a live browser after this session's browser died."""
        if self._chromium is not None:
            await self._pool.release(self._chromium)
        self._context = self._chromium = None
        self._screenshots.forget()
        await self._open(self._last_tabs, self._last_active)

    # ---- what actions drive (webserv.browser.actions.Controls) ----------------------------

    @property
    def action_timeout_ms(self) -> int:
        return self.config.action_timeout_ms

    @property
    def page(self) -> Page:
        if self._active is None:
            raise ActionError("no tab is open")
        return self._active

    @property
    def tabs(self) -> list[Page]:
        return list(self._pages)

    def element(self, element_id: str) -> Locator:
        """A locator for the element with this id (which may not exist)."""
        parts = element_id.split(".")
        if not all(part.isdigit() for part in parts):
            raise ActionError(
                f"{element_id!r} is not an element id; ids are the numbers in brackets, e.g. 12"
            )
        scope: Any = self.page
        for depth in range(1, len(parts)):
            scope = scope.frame_locator(f'[data-wsid="{".".join(parts[:depth])}"]')
        return scope.locator(f'[data-wsid="{element_id}"]').first

    def _resolve(self, url: str) -> str:
        base = self._active.url if self._active is not None else ""
        resolved = urljoin(base, url) if base.startswith("http") else url
        if self._guard is not None and not self._guard.allows(resolved):
            raise ActionError(f"{resolved} is outside the hosts this session may visit")
        return resolved

    async def navigate(self, url: str) -> None:
        resolved = self._resolve(url)
        try:
            await self.page.goto(
                resolved, wait_until="commit", timeout=self.config.settle_timeout_ms
            )
        except PlaywrightError as err:
            reason = str(err).strip().splitlines()[0].removeprefix("Error: ")
            raise ActionError(f"could not open {resolved}: {reason}") from err

    async def open_tab(self, url: str) -> None:
        resolved = self._resolve(url)
        assert self._context is not None
        page = await self._context.new_page()
        self._adopt(page)
        await self.navigate(resolved)

    async def switch_tab(self, index: int) -> None:
        if not 0 <= index < len(self._pages):
            raise ActionError(f"there is no tab {index}; open tabs are 0 to {len(self._pages) - 1}")
        self._active = self._pages[index]
        await self._active.bring_to_front()

    async def close_tab(self) -> None:
        if len(self._pages) <= 1:
            raise ActionError("cannot close the only tab")
        await self.page.close()

    def finish(self, answer: str) -> None:
        self.answer = answer

    def toggle_landmark(self, element_id: str) -> bool:
        """Unfold (or fold again) the navigation landmark with this id; False if the last
        observation showed no foldable landmark with this id."""
        key = self._landmark_ids.get(element_id)
        if key is None:
            return False
        self._expanded ^= {key}
        return True

    # ---- observe and step ----------------------------------------------------------------

    async def start(self, url: str) -> Observation:
        """Open ``url`` in the current tab and return the first observation."""
        error = ""
        await self._unpark()
        self._acted_at = now_ms()
        self._tab_adopted.clear()
        try:
            await self.navigate(url)
        except ActionError as err:
            error = str(err)
        return await self.observe(last_action_error=error)

    async def step(self, action: str | dict[str, Any] | Action) -> Observation:
        """Carry out one action and return the observation of the settled page.

        Never raises for a bad or failed action: the observation's ``last_action_error`` says
        what went wrong.
        """
        shown, error = await self.act(action)
        return await self.observe(last_action=shown, last_action_error=error)

    async def act(self, action: str | dict[str, Any] | Action) -> tuple[str, str]:
        """Carry out one action without observing; returns (the action as text, its error)."""
        shown = json.dumps(action) if isinstance(action, dict) else str(action)
        await self._unpark()
        started = asyncio.get_running_loop().time()
        self._acted_at = now_ms()
        self._tab_adopted.clear()
        self.last_target = None
        try:
            parsed = parse(action)
            shown = str(parsed)
            self.last_target = self._target(parsed)
            if not self.alive:
                await self._recover()
            await parsed.run(self)
        except ActionError as err:
            return shown, str(err)
        except PlaywrightError as err:
            return shown, CRASHED if not self.alive else _describe(err)
        finally:
            self._action_ms = (asyncio.get_running_loop().time() - started) * 1000
        return shown, ""

    def _target(self, action: Action) -> dict[str, Any] | None:
        element = action.args.get("id")
        box = self._boxes.get(str(element)) if element is not None else None
        if box is None:
            return None
        scale = self.config.screenshot_scale
        x, y, w, h = (round(v * scale) for v in box)
        return {"id": str(element), "box": [x, y, w, h], "point": [x + w // 2, y + h // 2]}

    async def observe(
        self,
        *,
        last_action: str = "",
        last_action_error: str = "",
        screenshot: bool | None = None,
        som: bool | None = None,
        settle: bool = True,
    ) -> Observation:
        """Wait for the page to settle (capped), then capture and render it.

        ``screenshot`` and ``som`` override the session's config for this observation;
        ``settle=False`` captures the page as it is right now.
        """
        last_action_error = await self._revive(last_action_error)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.config.settle_timeout_ms / 1000
        # The quiet window counts from the start of the action (or, with none, from the page's
        # own last activity alone).
        since, self._acted_at = self._acted_at or 0.0, None
        action_ms, self._action_ms = self._action_ms, 0.0
        shoot = self.config.screenshot if screenshot is None else screenshot
        settled = await self._settle(
            since, deadline, early=shoot and self.config.screenshot_early, settle=settle
        )
        page, capture, captured_at = settled.page, settled.capture, settled.captured_at
        shooting = settled.shooting
        if self._guard is not None and (refused := self._guard.take_blocked_navigations()):
            # The page was sent to a host outside the session's: back to where it was.
            if shooting is not None:
                shooting.cancel()
            return await self._refused(refused, last_action, last_action_error, screenshot, som)
        if capture is None:
            captured_at = now_ms()
            capture = await self._capture(page)
        parsed = json.loads(capture)
        capture_ms = now_ms() - captured_at if captured_at is not None else 0.0
        settle_ms = (loop.time() - started) * 1000 - capture_ms
        if shoot and shooting is None:
            # The browser encodes the image while the text renders here.
            shooting = asyncio.ensure_future(self._screenshot(page))
            await asyncio.sleep(0)
        drawn = await self._draw(page, parsed, shooting)
        self.timings = drawn.timings(action_ms, settle_ms, capture_ms)
        image = drawn.image
        if image is not None and (self.config.som if som is None else som):
            image = await self._marked(image, drawn.rendered.boxes)
        if not drawn.tabs:
            await self._vanished()
            last_action_error = (
                last_action_error or "the last tab closed itself; a new one was opened"
            )
        if not self.alive:
            # The browser died while this observation was taken: observe the reopened tabs.
            return await self.observe(
                last_action=last_action,
                last_action_error=CRASHED,
                screenshot=screenshot,
                som=som,
                settle=settle,
            )
        self._last_tabs = [tab.url for tab in drawn.tabs]
        self._last_active = next((tab.index for tab in drawn.tabs if tab.active), 0)
        self._schedule_park()
        return Observation(
            url=page.url,
            title=parsed["title"],
            tabs=drawn.tabs,
            text=drawn.rendered.text,
            screenshot=image,
            last_action=last_action,
            last_action_error=last_action_error,
            goal=self.goal,
            token_count=drawn.rendered.token_count,
            settle_ms=round(settle_ms, 1),
            settled=settled.calm,
            truncated=drawn.rendered.truncated,
            blocked_urls=self._guard.take_blocked() if self._guard is not None else [],
            pending=list(settled.pending),
            answer=self.answer,
        )

    async def _revive(self, last_action_error: str) -> str:
        """Reopen a parked page, or the tabs of a browser that died or closed them all; the
        action error an observation then reports."""
        await self._unpark()
        if self.alive and self._active is None:
            # Every tab closed under us: the browser is going down, or the page closed itself.
            await self._vanished()
        if not self.alive:
            await self._recover()
            return last_action_error or CRASHED
        return last_action_error

    async def _draw(
        self,
        page: Page,
        parsed: dict[str, Any],
        shooting: asyncio.Future[tuple[bytes | None, float]] | None,
    ) -> _Drawn:
        """The captured page as text and its tabs, rendered while the browser encodes the
        screenshot ``shooting``; then that screenshot."""
        loop = asyncio.get_running_loop()
        try:
            rendering = loop.time()
            rendered = self._render(page, parsed)
            render_ms = (loop.time() - rendering) * 1000
            tabs = [
                Tab(
                    index=i,
                    url=p.url,
                    title=parsed["title"] if p is page else await _title(p),
                    active=p is page,
                )
                for i, p in enumerate(self._pages)
            ]
            waiting = loop.time()
            image, shot_ms = await shooting if shooting is not None else (None, 0.0)
        finally:
            if shooting is not None and not shooting.done():
                shooting.cancel()
        wait_ms = (loop.time() - waiting) * 1000 if shooting is not None else 0.0
        return _Drawn(rendered, tabs, image, render_ms, shot_ms, wait_ms)

    async def _settle(
        self, since: float, deadline: float, *, early: bool, settle: bool
    ) -> _Settled:
        """Wait until the shown tab has settled (following tabs the action opened) and capture
        it; with ``early``, start its screenshot once only the quiet window is left."""
        page = self.page
        result = None
        calm, capture, captured_at = True, None, None
        pending: tuple[str, ...] = ()
        # The screenshot is started as soon as only the quiet window is left, so that the
        # browser draws and encodes it while the window passes; kept if the page did nothing
        # after it started.
        ahead: tuple[Page, float, asyncio.Future[tuple[bytes | None, float]]] | None = None
        settling = functools.partial(
            wait_settled,
            quiet_ms=self.config.quiet_ms,
            deadline=deadline,
            idle_quiet_ms=self.config.idle_quiet_ms,
            since=since,
        )
        try:
            while settle:
                if early and ahead is None:
                    window = await settling(page, self._trackers[page], early=True)
                    if window.window_left and window.at is not None:
                        ahead = page, window.at, asyncio.ensure_future(self._screenshot(page))
                result = await settling(
                    page, self._trackers[page], then=CAPTURE_SCRIPT, arg=CAPTURE_OPTIONS
                )
                calm = result.calm and calm
                capture, captured_at, pending = result.value, result.at, result.pending
                if since and result.tab_opened_at >= since and not self._tab_adopted.is_set():
                    # The action opened a tab that the browser has not announced yet.
                    await self._await_tab(deadline)
                # A click may have opened a tab meanwhile (or while the page was captured): the
                # new tab is the one to observe.
                if self._active is page or self._active is None:
                    break
                page = self._active
        except BaseException:
            if ahead is not None:
                ahead[2].cancel()
            raise
        shooting = None
        if ahead is not None:
            shot_page, started_at, shooting = ahead
            latest = result.latest if result is not None else None
            if shot_page is not page or latest is None or latest > started_at:
                shooting.cancel()  # the page changed after it started (or another tab is shown)
                shooting = None
        return _Settled(page, calm, capture, captured_at, pending, shooting)

    def _render(self, page: Page, parsed: dict[str, Any]) -> Rendered:
        """The captured page as text, with the dialogs and load errors since the last one."""
        notices = self._take_dialogs()
        if page.url.startswith(ERROR_PAGE):
            # The full browser's error page says why in its text; the shell's is blank.
            why = self._trackers[page].load_error if page in self._trackers else None
            notices.append(f"(this page could not be loaded{f': {why}' if why else ''})")
        rendered = render(parsed, self.config.token_budget, notices, frozenset(self._expanded))
        self._landmark_ids = rendered.landmarks
        self._boxes = rendered.boxes
        return rendered

    async def _marked(self, image: bytes, boxes: dict[str, tuple[int, int, int, int]]) -> bytes:
        """The screenshot with the set-of-marks boxes of the elements drawn on it."""
        config = self.config
        scale = config.screenshot_scale
        scaled = {
            key: (round(x * scale), round(y * scale), round(w * scale), round(h * scale))
            for key, (x, y, w, h) in boxes.items()
        }
        return await asyncio.to_thread(
            overlay, image, scaled, config.screenshot_format, config.screenshot_quality
        )

    async def _refused(
        self,
        refused: list[tuple[Page, str]],
        last_action: str,
        last_action_error: str,
        screenshot: bool | None,
        som: bool | None,
    ) -> Observation:
        """Undo navigations the URL guard refused (each left an error page behind): go back
        to the page the tab was on, or close a tab that opened on the refused URL, and tell the
        agent which URL it was."""
        urls = []
        for page, url in refused:
            urls.append(url)
            if page.is_closed():
                continue
            try:
                went_back = await page.go_back(
                    wait_until="commit", timeout=self.config.settle_timeout_ms
                )
                if went_back is None and len(self._pages) > 1:
                    await page.close()
            except PlaywrightError:
                pass  # the tab went away meanwhile: nothing to undo
        self._acted_at = now_ms()
        error = (
            f"the page tried to open {', '.join(dict.fromkeys(urls))}, outside the hosts this "
            "session may visit; the tab stayed on the page it was on"
        )
        return await self.observe(
            last_action=last_action,
            last_action_error="; ".join(filter(None, [last_action_error, error])),
            screenshot=screenshot,
            som=som,
        )

    async def _await_tab(self, deadline: float) -> None:
        """Wait (capped) for the tab the page said it opened; it may have been prevented."""
        remaining = min(TAB_WAIT_S, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait_for(self._tab_adopted.wait(), max(0.0, remaining))
        except TimeoutError:
            pass  # no tab came (a script cancelled it): observe the page itself

    async def _vanished(self) -> None:
        """Every tab closed under us: either the browser is going down, or the page closed
        itself. Wait (briefly) for the browser's disconnect to tell which."""
        assert self._chromium is not None and self._context is not None
        try:
            await asyncio.wait_for(self._chromium.gone.wait(), timeout=2)
        except TimeoutError:
            self._adopt(await self._context.new_page())

    async def _screenshot(self, page: Page) -> tuple[bytes | None, float]:
        """The screenshot the config asks for and how long it took (ms); None if the tab or
        the browser went away meanwhile (the observation then reports that)."""
        started = asyncio.get_running_loop().time()
        config = self.config
        try:
            image: bytes | None = await self._screenshots.take(
                page, config.screenshot_format, config.screenshot_quality, config.screenshot_scale
            )
        except PlaywrightError:
            image = None
        return image, (asyncio.get_running_loop().time() - started) * 1000

    async def _capture(self, page: Page) -> str:
        """Run the capture script, again if a navigation replaced the document meanwhile."""
        for _ in range(3):
            try:
                return str(await page.evaluate(CAPTURE_SCRIPT, CAPTURE_OPTIONS))
            except PlaywrightError:
                if page.is_closed():
                    break
                try:
                    await page.wait_for_load_state("domcontentloaded", timeout=2_000)
                except PlaywrightError:
                    pass  # the next attempt or the empty capture below reports the state
        return json.dumps(
            {"title": "", "nodes": [], "scroll": {"y": 0, "height": 0, "vh": 0, "vw": 0}}
        )

    async def raw_html(self) -> str:
        """The current page's serialised DOM (for size comparisons)."""
        await self._unpark()
        return await self.page.content()


async def _accept(dialog: Dialog) -> None:
    try:
        await dialog.accept()
    except PlaywrightError:
        pass  # the page closed while its dialog was open: nothing is left to answer


async def _title(page: Page) -> str:
    try:
        return await page.title()
    except PlaywrightError:
        return ""


def _describe(err: PlaywrightError) -> str:
    return str(err).strip().splitlines()[0].removeprefix("Error: ")[:300]
