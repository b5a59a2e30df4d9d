"""Sessions share nothing (cookies, storage, cache, history), also across parking; a parked
session lets its renderer go and comes back at its URLs with its cookies and storage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psutil
import pytest
from pool_fixtures import until

from webserv.browser.session import BrowserPool, BrowserSession, SessionConfig

pytestmark = pytest.mark.browser

#: What a page can leave behind in its context, as the page sees it.
TRACES = """async (probe) => {
    const cached = async () => {
        const url = probe + '?cache=1';
        await (await fetch(url, {cache: 'force-cache'})).text();  // stored once read
        const entries = performance.getEntriesByName(new URL(url, location.href).href);
        return entries.length > 0 && entries[entries.length - 1].transferSize === 0;
    };
    return {
        cookie: document.cookie,
        local: localStorage.getItem('left'),
        session: sessionStorage.getItem('left'),
        history: history.length,
        cachedBefore: await cached(),
    };
}"""
LEAVE = """() => {
    document.cookie = 'left=cookie; path=/';
    localStorage.setItem('left', 'local');
    sessionStorage.setItem('left', 'session');
}"""


@pytest.fixture
async def two(browser_pool: BrowserPool) -> AsyncIterator[list[BrowserSession]]:
    sessions = [await browser_pool.new_session(allowed_hosts=["127.0.0.1"]) for _ in range(2)]
    yield sessions
    for session in sessions:
        await session.close()


def _renderers() -> set[int]:
    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in proc.cmdline():
                pids.add(proc.pid)
        except psutil.Error:
            continue  # exited (a zombie until its parent reaps it)
    return pids


async def test_sessions_share_nothing_even_across_parking(
    two: list[BrowserSession], pages_url: str
):
    first, second = two
    await first.start(f"{pages_url}/basic.html")
    await first.page.evaluate(LEAVE)
    await first.page.evaluate(TRACES, "/second.html")  # now in the first one's cache
    await first.step('goto("/second.html")')
    assert (await first.page.evaluate(TRACES, "/second.html"))["cachedBefore"]

    await first.park()
    await second.start(f"{pages_url}/basic.html")
    seen = await second.page.evaluate(TRACES, "/second.html")
    assert seen == {
        "cookie": "",
        "local": None,
        "session": None,
        "history": 2,  # the blank tab and this page
        "cachedBefore": False,
    }

    # Back from parking: the first keeps its cookie, storage and cache, at its page.
    back = await first.observe()
    assert back.url == f"{pages_url}/second.html" and not first.parked
    kept = await first.page.evaluate(TRACES, "/second.html")
    assert kept["cookie"] == "left=cookie" and kept["local"] == "local" and kept["cachedBefore"]


async def test_a_parked_session_lets_its_renderer_go_and_comes_back_where_it_was(
    browser_pool: BrowserPool, pages_url: str
):
    session = await browser_pool.new_session(allowed_hosts=["127.0.0.1"])
    try:
        await session.start(f"{pages_url}/basic.html")
        before = (await session.step('goto("/second.html")')).text
        with_pages = _renderers()
        await session.park()
        assert session.parked
        await until(lambda: len(_renderers() & with_pages) < len(with_pages))
        obs = await session.step('scroll("down")')
        assert obs.url == f"{pages_url}/second.html" and not obs.last_action_error
        assert obs.text.splitlines()[0] == before.splitlines()[0]
        # The tab's history went with its page.
        assert "no previous page" in (await session.step("back()")).last_action_error
    finally:
        await session.close()


async def test_an_idle_session_parks_by_itself_and_the_next_step_reopens_it(
    browser_pool: BrowserPool, pages_url: str
):
    config = SessionConfig(park_after_s=0.3)
    session = await browser_pool.new_session(allowed_hosts=["127.0.0.1"], config=config)
    try:
        first = await session.start(f"{pages_url}/basic.html")
        await until(lambda: session.parked, 5)
        again = await session.step('scroll("up")')
        assert again.url == first.url and not again.last_action_error
        assert not session.parked  # and it parks again once idle
        await until(lambda: session.parked, 5)
    finally:
        await session.close()
