"""What a page of someone else's making looks like in an observation (``tests/pages/admin.html``
is shaped like the admin screens of real apps): tables cell by cell under their headers, names
as browsers compute them, one link per target, the main content before a long navigation that
folds and unfolds, disabled controls, options matched loosely, longer timers followed, and a
navigation the URL guard refuses undone."""

from __future__ import annotations

import re

import pytest
from browser_helpers import element_id

from webserv.browser.observation import Observation
from webserv.browser.session import BrowserPool, BrowserSession, SessionConfig

pytestmark = pytest.mark.browser


async def _open(pool: BrowserPool, pages_url: str, **config: int) -> BrowserSession:
    session = await pool.new_session(
        allowed_hosts=["127.0.0.1"], goal="test", config=SessionConfig(**config)
    )
    return session


@pytest.fixture
async def session(browser_pool: BrowserPool, pages_url: str):
    session = await _open(browser_pool, pages_url)
    yield session
    await session.close()


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\) \| ", line.strip()[2:-2])]


def _table(obs: Observation, caption: str) -> tuple[list[str], list[list[str]]]:
    lines = obs.text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f'table "{caption}"'))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(_cells(line))
    return _cells(lines[start + 1]), rows


async def test_a_table_keeps_every_cell_under_its_column(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/admin.html")
    assert 'table "Recent orders" (3 rows)' in obs.text
    header, rows = _table(obs, "Recent orders")
    assert header == ["Order", "Customer", "Note", "Qty", "Status"]
    by_order = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    first = by_order[f'[{element_id(obs, "link", "#1001")}] link "#1001"']
    # An empty cell stays a cell; a control in a cell is named after its column.
    assert first["Customer"] == "Ada" and first["Note"] == "" and first["Status"] == "Shipped"
    assert re.fullmatch(r'\[\d+\] textbox "Qty" value="2"', first["Qty"])
    second = next(row for key, row in by_order.items() if "#1002" in key)
    assert second["Customer"] == "Brook \\| Co" and second["Note"] == "gift"
    # A cell spanning two columns leaves the next one empty: the total is still under Qty.
    total = next(row for row in rows if row[0] == "Total")
    assert dict(zip(header, total, strict=True))["Qty"] == "3"


async def test_names_are_computed_as_a_browser_does(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/admin.html")
    # A count hidden from assistive technology next to its spoken wording: said once.
    assert '] link "Comments 11 approved comments"' in obs.text
    # The words after an unlabelled checkbox name it (and are not repeated); the words before
    # an unlabelled field name it.
    element_id(obs, "checkbox", "Remember me")
    assert obs.text.count("Remember me") == 1
    element_id(obs, "textbox", "Search")
    assert "Search:" not in obs.text
    # A form laid out as a table row: its controls are named after the row's first cell.
    assert re.search(
        r'\] combobox "Status" value="is" .*\n.*\] combobox "Status" value="active"', obs.text
    )
    # Zero-width characters are gone from headings and names.
    assert "\u200b" not in obs.text
    assert obs.text.startswith("# Orders\n")
    element_id(obs, "link", "Basic page")


async def test_two_links_to_one_page_are_one(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/admin.html")
    lamp = [line for line in obs.text.splitlines() if "Desk lamp" in line]
    # The picture's link and the title's link: one line, the one in the heading.
    assert len(lamp) == 1 and re.fullmatch(r'### \[\d+\] link "Desk lamp"', lamp[0])


async def test_disabled_controls_keep_their_id_and_say_so(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/admin.html")
    locked = element_id(obs, "button", "Locked action")
    assert f'[{locked}] button "Locked action" disabled' in obs.text
    following = element_id(obs, "link", "Next page")
    assert f'[{following}] link "Next page" disabled' in obs.text
    obs = await session.step(f'click("{locked}")')
    assert obs.last_action_error == f"element {locked} is disabled"


async def test_main_content_comes_first_and_long_navigation_folds(
    browser_pool: BrowserPool, pages_url
):
    roomy = await _open(browser_pool, pages_url)
    tight = await _open(browser_pool, pages_url, token_budget=350)
    try:
        obs = await roomy.start(f"{pages_url}/admin.html")
        lines = obs.text.splitlines()
        # The navigation comes first in the page, after the content in the observation.
        assert lines.index('navigation "Main menu"') > lines.index("# Orders")
        assert '] link "Section 30"' in obs.text and not obs.truncated

        obs = await tight.start(f"{pages_url}/admin.html")
        fold_line = r'^\[(\d+)\] navigation "Main menu" collapsed \(30 links\)$'
        folded = re.search(fold_line, obs.text, re.M)
        assert folded, obs.text
        assert "Section 1" not in obs.text
        # The content the navigation would have pushed out is all there.
        assert '] textbox "Draft"' in obs.text and "Recent orders" in obs.text
        obs = await tight.step(f'click("{folded.group(1)}")')
        assert not obs.last_action_error
        assert f'[{folded.group(1)}] navigation "Main menu" expanded' in obs.text
        section = element_id(obs, "link", "Section 30")
        # It stays unfolded on the next pages until clicked again.
        obs = await tight.step(f'click("{section}")')
        assert obs.url.endswith("#section-30") and '] link "Section 30"' in obs.text
        obs = await tight.step(f'click("{folded.group(1)}")')
        assert "collapsed (30 links)" in obs.text
    finally:
        await roomy.close()
        await tight.close()


async def test_options_match_ignoring_case_when_unambiguous(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/admin.html")
    sort = element_id(obs, "combobox", "Sort")
    obs = await session.step(f'select("{sort}", "  PRICE: low to   HIGH ")')
    assert not obs.last_action_error
    assert f'[{sort}] combobox "Sort" value="Price: low to high"' in obs.text
    # An exact match wins over a looser one.
    obs = await session.step(f'select("{sort}", "price: HIGH to low")')
    assert 'value="price: HIGH to low"' in obs.text
    dup = element_id(obs, "combobox", "Dup")
    obs = await session.step(f'select("{dup}", "alpha")')
    assert obs.last_action_error == (
        f'option \'alpha\' of element {dup} could be any of "Alpha", "ALPHA"'
    )
    obs = await session.step(f'select("{dup}", "ALPHA")')
    assert f'[{dup}] combobox "Dup" value="ALPHA"' in obs.text


async def test_a_preview_drawn_after_a_two_second_timer_is_awaited(
    session: BrowserSession, pages_url
):
    obs = await session.start(f"{pages_url}/admin.html")
    draft = element_id(obs, "textbox", "Draft")
    obs = await session.step(f'type("{draft}", "hello")')
    assert obs.settled and "Preview: hello" in obs.text and obs.pending == []
    later = await session.observe(settle=False)
    assert later.text == obs.text


async def test_timers_past_the_horizon_are_reported_not_awaited(
    browser_pool: BrowserPool, pages_url
):
    session = await _open(browser_pool, pages_url, timer_horizon_ms=1000)
    try:
        obs = await session.start(f"{pages_url}/admin.html")
        obs = await session.step(f'type("{element_id(obs, "textbox", "Draft")}", "hello")')
        assert "Preview: hello" not in obs.text
        assert any(re.fullmatch(r"timer due in \d+ ms, not waited for", p) for p in obs.pending)
    finally:
        await session.close()


async def test_a_timer_seen_to_change_nothing_is_not_awaited_again(
    session: BrowserSession, pages_url
):
    obs = await session.start(f"{pages_url}/admin.html")
    note = element_id(obs, "textbox", "Note")
    obs = await session.step(f'type("{note}", "a")')
    # The first such timer is awaited: it had run when the observation was taken.
    assert obs.settled and obs.pending == []
    obs = await session.step(f'type("{note}", "ab")')
    assert any(p.endswith("not waited for") for p in obs.pending), obs.pending


async def test_a_refused_navigation_names_the_url_and_stays_put(session: BrowserSession, pages_url):
    obs = await session.start(f"{pages_url}/admin.html")
    obs = await session.step(f'click("{element_id(obs, "link", "Elsewhere")}")')
    assert obs.last_action_error == (
        "the page tried to open http://localhost:8081/elsewhere, outside the hosts this "
        "session may visit; the tab stayed on the page it was on"
    )
    assert obs.url == f"{pages_url}/admin.html" and len(obs.tabs) == 1
    assert "http://localhost:8081/elsewhere" in obs.blocked_urls
    assert obs.text.startswith("# Orders")
