"""BrowserSession on real Chromium against the fixture pages in ``tests/pages``."""

from __future__ import annotations

import asyncio
import io
import re
import socket

import pytest
from browser_helpers import element_id
from PIL import Image

from webserv.browser import actions
from webserv.browser.session import CRASHED, BrowserPool, BrowserSession, SessionConfig

pytestmark = pytest.mark.browser


@pytest.fixture
async def session(browser_pool: BrowserPool, pages_url: str):
    session = await browser_pool.new_session(allowed_hosts=["127.0.0.1"], goal="test")
    yield session
    await session.close()


async def test_first_observation_is_compact_and_complete(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    assert obs.settled and obs.settle_ms > 0
    assert obs.title == "Basic fixture" and obs.goal == "test"
    assert obs.tabs[0].active and obs.tabs[0].url == obs.url
    assert obs.text.startswith("# Fixture shop")
    for line in (
        '[textbox] "Search"',
        '[combobox] "Sort by" value="Relevance" options=[Relevance | Price | Name]',
        '[checkbox] "Newsletter"',
        '[button] "Unavailable" disabled',
        '[link] "Open in new tab" (opens new tab)',
    ):
        role, rest = line[1:].split("] ", 1)
        assert re.search(rf"\[[\d.]+\] {role} {re.escape(rest)}", obs.text), line
    assert "Lamp | $12.00" in obs.text
    assert "Inside the frame" in obs.text
    assert obs.token_count > 0 and not obs.truncated


async def test_ids_are_stable_across_steps(session: BrowserSession, pages_url):
    first = await session.start(f"{pages_url}/basic.html")
    ids = re.findall(r"\[([\d.]+)\]", first.text)
    button = element_id(first, "button", "Click me")
    second = await session.step(f'click("{button}")')
    assert 'button "Clicked 1 times"' in second.text
    # What it clicked, where the page before the click showed it (screenshot pixels).
    target = session.last_target
    assert target is not None and target["id"] == button
    x, y, w, h = target["box"]
    assert w > 0 and h > 0 and 0 <= x and x + w <= session.config.viewport_width
    assert target["point"] == [x + w // 2, y + h // 2]
    await session.step('click("999999")')
    assert session.last_target is None  # no element of that id on the page
    assert element_id(second, "button", "Clicked 1 times") == button
    assert re.findall(r"\[([\d.]+)\]", second.text) == ids
    third = await session.step(f'click("{button}")')
    assert element_id(third, "button", "Clicked 2 times") == button


async def test_form_actions(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    box, sort, news = (
        element_id(obs, "textbox", "Search"),
        element_id(obs, "combobox", "Sort by"),
        element_id(obs, "checkbox", "Newsletter"),
    )
    obs = await session.step(f'select("{sort}", "Price")')
    assert 'value="Price"' in obs.text and not obs.last_action_error
    obs = await session.step(f'click("{news}")')
    assert re.search(rf'\[{news}\] checkbox "Newsletter" checked', obs.text)
    obs = await session.step(f'type("{box}", "desk lamp")')
    assert f'[{box}] textbox "Search" value="desk lamp"' in obs.text
    obs = await session.step(f'type("{box}", "lamp", submit=True)')
    assert obs.url.endswith("/second.html?q=lamp&sort=price&news=on")
    assert "Query: lamp" in obs.text
    obs = await session.step("back()")
    assert obs.url.endswith("/basic.html") and not obs.last_action_error
    obs = await session.step("forward()")
    assert "Query: lamp" in obs.text


async def test_hover_press_scroll_and_iframe(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    assert "My orders" not in obs.text
    obs = await session.step(f'hover("{element_id(obs, "clickable", "Account menu")}")')
    assert 'link "My orders"' in obs.text
    frame_button = element_id(obs, "button", "Frame button")
    assert "." in frame_button
    obs = await session.step(f'click("{frame_button}")')
    assert element_id(obs, "button", "Frame clicked") == frame_button
    box = element_id(obs, "textbox", "Search")
    await session.step(f'type("{box}", "abc")')
    obs = await session.step('press("Backspace")')
    assert 'value="ab"' in obs.text
    assert "viewport shows 0-" in obs.text
    obs = await session.step('scroll("down")')
    assert "viewport shows 0-" not in obs.text and "viewport shows" in obs.text
    obs = await session.step('scroll("up")')
    assert "viewport shows 0-" in obs.text


async def test_covered_element_is_still_clicked(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    obs = await session.step(f'click("{element_id(obs, "button", "Show cover")}")')
    obs = await session.step(f'click("{element_id(obs, "button", "Under cover")}")')
    assert not obs.last_action_error
    assert "covered clicked" in obs.text


async def test_tabs(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    obs = await session.step(f'click("{element_id(obs, "link", "Open in new tab")}")')
    assert len(obs.tabs) == 2 and obs.tabs[1].active
    assert obs.url.endswith("/second.html") and obs.title == "Second fixture"
    obs = await session.step("switch_tab(0)")
    assert obs.tabs[0].active and obs.title == "Basic fixture"
    obs = await session.step('new_tab("/second.html?q=tab")')
    assert len(obs.tabs) == 3 and "Query: tab" in obs.text
    obs = await session.step("close_tab()")
    assert len(obs.tabs) == 2 and not obs.last_action_error
    obs = await session.step(f'goto("{pages_url}/second.html?q=went")')
    assert "Query: went" in obs.text
    obs = await session.step('stop("done")')
    assert obs.answer == "done" and session.answer == "done"


async def test_opera_json_actions(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    # Typed into a drop-down, the text chooses an option: OPeRA's actions have no select.
    sort = element_id(obs, "combobox", "Sort by")
    obs = await session.step({"type": "type_and_submit", "name": sort, "text": "Price"})
    assert not obs.last_action_error and f'[{sort}] combobox "Sort by" value="Price"' in obs.text
    obs = await session.step({"type": "type_and_submit", "name": sort, "text": "Cheapest"})
    assert "has no option 'Cheapest'" in obs.last_action_error
    box = element_id(obs, "textbox", "Search")
    obs = await session.step({"type": "type_and_submit", "name": box, "text": "json"})
    assert "Query: json" in obs.text
    obs = await session.step({"type": "terminate"})
    assert obs.answer == "" and obs.last_action == "stop()"


BAD_ACTIONS = [
    ('click("999")', "no element with id 999 on the page"),
    ('click("abc")', "is not an element id"),
    ("click(", "cannot parse action"),
    ('click("1", "2")', "too many positional arguments"),
    ('jump("1")', "unknown action 'jump'"),
    ('click("DISABLED")', "is disabled"),
    ('select("SORT", "Cheapest")', "has no option 'Cheapest'; options are: \"Relevance\""),
    ('select("BUTTON", "x")', "is not a select element"),
    ('type("BUTTON", "x")', "is not a text field"),
    ('press("NoSuchKey")', "unknown key 'NoSuchKey'"),
    ("switch_tab(5)", "there is no tab 5"),
    ("close_tab()", "cannot close the only tab"),
    ("forward()", "there is no next page"),
    ('goto("http://10.255.255.1/")', "outside the hosts this session may visit"),
    ('goto("http://127.0.0.1:1/")', "could not open http://127.0.0.1:1/"),
]


async def test_errors_come_back_in_a_valid_observation(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    ids = {
        "DISABLED": element_id(obs, "button", "Unavailable"),
        "SORT": element_id(obs, "combobox", "Sort by"),
        "BUTTON": element_id(obs, "button", "Click me"),
    }
    for action, message in BAD_ACTIONS:
        for placeholder, value in ids.items():
            action = action.replace(placeholder, value)
        after = await session.step(action)
        assert message in after.last_action_error, (action, after.last_action_error)
        assert after.last_action, action
        assert after.text and after.token_count > 0 and after.tabs, action


async def test_a_page_that_cannot_load_says_why(session: BrowserSession, pages_url):
    await session.start(f"{pages_url}/basic.html")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"  # nothing listens there
    obs = await session.step(f'goto("{url}")')
    assert f"could not open {url}" in obs.last_action_error
    assert obs.text.startswith(
        f"(this page could not be loaded: {url}: net::ERR_CONNECTION_REFUSED"
    )
    back = await session.step("back()")
    assert "could not be loaded" not in back.text and back.url.endswith("/basic.html")


async def test_slow_fetch_is_awaited(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/slow.html")
    assert obs.settled
    assert "Review: loaded after 900 ms" in obs.text
    obs = await session.step(f'click("{element_id(obs, "button", "More reviews")}")')
    assert "Second batch arrived: loaded after 600 ms" in obs.text
    assert session.timings.action_ms + obs.settle_ms >= 600


async def test_a_pending_short_timer_is_awaited(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/basic.html")
    # The 300 ms timer outlasts the 200 ms quiet window: only tracking it catches its change.
    obs = await session.step(f'click("{element_id(obs, "button", "Delayed")}")')
    # The timer starts with the click, inside the action.
    assert "delayed done" in obs.text
    assert session.timings.action_ms + obs.settle_ms >= 300


async def test_work_after_load_is_awaited_by_the_idle_shortcut(
    browser_pool: BrowserPool, pages_url
):
    # Animation frames, a transition, a chain of timers and chunked idle work each finish about
    # 100 ms after `load`, with nothing in flight: past the idle window, well within the full
    # one. Each is caught only by its own check of the idle shortcut.
    config = SessionConfig(quiet_ms=1_000, idle_quiet_ms=50)
    session = await browser_pool.new_session(config=config)
    try:
        for work in ("frames", "transition", "chain", "deferred"):
            obs = await session.start(f"{pages_url}/late.html?work={work}")
            assert obs.settled and f"{work} done" in obs.text, obs.text
        obs = await session.step(f'click("{element_id(obs, "link", "Jump to the lazy section")}")')
        assert "lazy done" in obs.text
    finally:
        await session.close()


async def test_quiet_window_is_shortened_only_for_an_idle_page(
    browser_pool: BrowserPool, pages_url
):
    async def settle_ms(config: SessionConfig, role: str, name: str) -> float:
        """The click's wait, counted from its start: the quiet window starts with the action."""
        session = await browser_pool.new_session(config=config)
        try:
            obs = await session.start(f"{pages_url}/late.html")
            obs = await session.step(f'click("{element_id(obs, role, name)}")')
        finally:
            await session.close()
        assert obs.settled
        return session.timings.action_ms + obs.settle_ms

    window = 2_500
    jump = ("link", "Jump to the lazy section")
    shortcut = SessionConfig(quiet_ms=window, idle_quiet_ms=50)
    # Once the lazy section has loaded, the browser soon reports the page idle.
    assert await settle_ms(shortcut, *jump) < window
    # The same click with the shortcut off waits the whole window.
    full = SessionConfig(quiet_ms=window, idle_quiet_ms=window)
    assert await settle_ms(full, *jump) >= window
    # A running animation keeps the page from proving idle: the whole window again.
    assert await settle_ms(shortcut, "button", "Spin") >= window


async def test_settle_cap_holds_on_a_mutation_storm(browser_pool: BrowserPool, pages_url):
    config = SessionConfig(settle_timeout_ms=1_500)
    session = await browser_pool.new_session(config=config)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        obs = await session.start(f"{pages_url}/storm.html")
        elapsed = loop.time() - started
    finally:
        await session.close()
    assert not obs.settled
    assert 1_500 <= obs.settle_ms < 1_500 + 2_000
    assert elapsed < 1.5 + 8  # navigation + capture on a loaded machine, never a second cap
    assert "# Ticker" in obs.text


async def test_url_guard_blocks_other_hosts(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/guarded.html")
    assert "blocked" in obs.text and "leaked" not in obs.text
    assert any(url.startswith("http://localhost:") for url in obs.blocked_urls)
    # A new tab of the page is guarded from its first request on.
    away = await session.step(f'click("{element_id(obs, "link", "Same server, other host name")}")')
    assert len(away.tabs) == 2 and "Fixture shop" not in away.text
    assert any(url.endswith("/basic.html") for url in away.blocked_urls)
    await session.step("close_tab()")
    obs = await session.step('goto("/basic.html")')
    assert obs.blocked_urls == []


async def test_screenshot_with_set_of_marks(browser_pool: BrowserPool, pages_url):
    session = await browser_pool.new_session(config=SessionConfig(screenshot=True, som=True))
    try:
        obs = await session.start(f"{pages_url}/basic.html")
        plain = await session.observe(som=False)
    finally:
        await session.close()
    assert obs.screenshot is not None and obs.screenshot.startswith(b"\x89PNG")
    assert plain.screenshot is not None and plain.screenshot != obs.screenshot


async def test_browser_is_recycled_and_replaced_after_a_crash(pages_url):
    async with BrowserPool(recycle_after=2) as pool:
        first = await pool.new_session()
        second = await pool.new_session()
        third = await pool.new_session()
        assert pool.launches == 2
        for session in (first, second, third):
            await session.close()
        session = await pool.new_session()
        await session.start(f"{pages_url}/second.html?q=before")
        await session.add_cookies([{"name": "login", "value": "emma", "url": pages_url}])
        launches = pool.launches
        assert session._chromium is not None
        # The browser dies between two steps: the next step runs on a replacement.
        await session._chromium.browser.close()
        obs = await session.step('goto("/second.html?q=after")')
        assert not obs.last_action_error and "Query: after" in obs.text
        assert pool.launches == launches + 1
        cookies = await session.page.context.cookies()
        assert [(c["name"], c["value"]) for c in cookies] == [("login", "emma")]
        # The browser dies during a step: that step reports it, the tabs come back.
        obs = await session.step('goto("/slow.html")')
        page = session.page
        more = element_id(obs, "button", "More reviews")
        dying = asyncio.ensure_future(session.step(f'click("{more}")'))
        await page.wait_for_function("() => window.__wsSettle.inflight > 0")
        await session._chromium.browser.close()
        obs = await dying
        assert obs.last_action_error == CRASHED
        assert obs.url.endswith("/slow.html") and "# Reviews" in obs.text
        await session.close()


async def test_a_tab_that_opens_slowly_is_the_one_observed(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/popups.html")
    obs = await session.step(f'click("{element_id(obs, "link", "Slow new tab")}")')
    assert len(obs.tabs) == 2 and obs.tabs[1].active, obs.tabs
    assert "loaded after 700 ms" in obs.text
    # A new-tab link whose click a script cancels opens nothing; the wait for it is capped.
    obs = await session.step("switch_tab(0)")
    obs = await session.step(f'click("{element_id(obs, "link", "Cancelled new tab")}")')
    assert len(obs.tabs) == 2 and obs.tabs[0].active and obs.settled


async def test_dialogs_are_reported(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/popups.html")
    obs = await session.step(f'click("{element_id(obs, "button", "Alert")}")')
    assert obs.text.startswith('(an alert said "Saved!"; it was dismissed)')
    obs = await session.step(f'click("{element_id(obs, "button", "Confirm")}")')
    assert obs.text.startswith('(a confirm dialog asked "Delete it?"; it was answered OK)')
    assert "deleted" in obs.text and "alert" not in obs.text
    obs = await session.observe()
    assert "dialog" not in obs.text


async def test_submit_does_not_wait_for_the_navigation(browser_pool: BrowserPool, pages_url):
    # The answer comes after the action timeout; the settle wait, not the key press, awaits it.
    config = SessionConfig(action_timeout_ms=1_500)
    session = await browser_pool.new_session(config=config)
    try:
        obs = await session.start(f"{pages_url}/popups.html")
        obs = await session.step(f'type("{element_id(obs, "textbox", "Delay")}", "2500", True)')
    finally:
        await session.close()
    assert not obs.last_action_error
    assert "loaded after 2500 ms" in obs.text


async def test_a_click_the_layout_moves_away_still_lands(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/shift.html")
    obs = await session.step(f'click("{element_id(obs, "button", "Target")}")')
    assert not obs.last_action_error
    assert "clicked: target" in obs.text and "inserted" not in obs.text.split("clicked:")[1]


async def test_wrapped_and_scrolled_links_are_clicked_at_once(
    session: BrowserSession, pages_url, monkeypatch
):
    # The direct click must land: Playwright's slower click (the fallback) is not allowed here.
    async def no_fallback(*args: object) -> None:
        raise AssertionError("the direct click missed")

    monkeypatch.setattr(actions, "_act", no_fallback)
    obs = await session.start(f"{pages_url}/wrapped.html")
    for name in ("bb cc", "Far below"):
        obs = await session.step(f'click("{element_id(obs, "link", name)}")')
        assert not obs.last_action_error, obs.last_action_error
    assert "clicked: wrapped far" in obs.text


#: Fields of every kind typing treats differently, each counting the input events it gets.
FIELDS = """<!doctype html><title>fields</title>
<form action="/second.html">
<input id="q" name="q" aria-label="Query" value="old text">
<textarea id="note" name="note" aria-label="Note">old note</textarea>
<input type="number" id="n" name="n" aria-label="Count" value="3">
<input id="fixed" name="fixed" aria-label="Fixed" value="keep" readonly>
<div contenteditable="true" aria-label="Editor" role="textbox">old</div>
<button>Go</button>
</form>
<script>
window.inputs = 0;
document.addEventListener('input', () => window.inputs++);
</script>"""


async def test_typing_replaces_the_text_of_every_kind_of_field(
    session: BrowserSession, pages_url: str
):
    await session.start(f"{pages_url}/basic.html")
    await session.page.set_content(FIELDS)
    obs = await session.observe()
    ids = {
        name: element_id(obs, "textbox", name)
        for name in ("Query", "Note", "Count", "Fixed", "Editor")
    }
    count = ids["Count"]
    for name, text in (("Query", "desk lamp"), ("Note", "two\nlines"), ("Editor", "new")):
        obs = await session.step(f'type("{ids[name]}", {text!r})')
        assert not obs.last_action_error
    assert await session.page.evaluate(
        "() => [q.value, note.value, document.querySelector('[contenteditable]').textContent]"
    ) == ["desk lamp", "two\nlines", "new"]
    assert await session.page.evaluate("() => window.inputs") >= 3  # the page saw the typing

    obs = await session.step(f'type("{count}", "12")')
    assert not obs.last_action_error and await session.page.evaluate("() => n.value") == "12"
    obs = await session.step(f'type("{count}", "twelve")')
    assert "could not type into element" in obs.last_action_error
    obs = await session.step(f'type("{ids["Fixed"]}", "changed")')
    assert "is not a text field" in obs.last_action_error
    obs = await session.step(f'type("{ids["Query"]}", "")')
    assert await session.page.evaluate("() => [q.value, fixed.value]") == ["", "keep"]

    obs = await session.step(f'type("{ids["Query"]}", "lamp", submit=True)')
    assert "/second.html?q=lamp&" in obs.url


@pytest.mark.parametrize("delay_ms", [5, 20, 30, 40])
async def test_the_screenshot_shows_a_change_made_while_the_page_settled(
    browser_pool: BrowserPool, pages_url: str, delay_ms: int
):
    # The screenshot starts while the quiet window passes; a change in the window (here a
    # worker's answer, which nothing in the page announced) must not leave it showing the page
    # before the change.
    config = SessionConfig(screenshot=True, screenshot_format="png")
    session = await browser_pool.new_session(config=config)
    try:
        obs = await session.start(f"{pages_url}/worker.html?delay={delay_ms}")
        obs = await session.step(f'click("{element_id(obs, "button", "Ask the worker")}")')
    finally:
        await session.close()
    assert "answered" in obs.text
    assert obs.screenshot is not None
    image = Image.open(io.BytesIO(obs.screenshot)).convert("RGB")
    assert image.getpixel((image.width - 5, image.height - 5)) == (200, 0, 0)
