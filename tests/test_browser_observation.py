"""Rendering a capture into compact text within a token budget (no browser)."""

from webserv.browser.observation import render
from webserv.browser.tokens import count_tokens


def _capture(nodes, height=700):
    return {"nodes": nodes, "scroll": {"y": 0, "height": height, "vh": 700, "vw": 1280}}


def _el(id_, role, name, vis=True, **extra):
    node = {"k": "el", "id": id_, "role": role, "name": name, "box": [0, 0, 10, 10], "vis": vis}
    return node | extra


def _text(t, blk, vis=True, cell=-1):
    return {"k": "text", "t": t, "blk": blk, "cell": cell, "vis": vis, "h": 0}


def test_renders_elements_headings_and_merged_text():
    nodes = [
        {"k": "heading", "t": "Lamps", "level": 1, "vis": True},
        _text("Free", 1),
        _text("shipping", 1),
        _el("3", "combobox", "Sort", value="Price", options=["Name", "Price"]),
        _el("4", "checkbox", "Gift", checked=True),
        _el("5", "button", "Buy", disabled=True),
        _el("6", "link", "Manual", newTab=True),
        _text("Lamp", 2, cell=10),
        _text("$12", 2, cell=11),
    ]
    rendered = render(_capture(nodes), budget=500)
    assert rendered.text.splitlines() == [
        "# Lamps",
        "Free shipping",
        '[3] combobox "Sort" value="Price" options=[Name | Price]',
        '[4] checkbox "Gift" checked',
        '[5] button "Buy" disabled',
        '[6] link "Manual" (opens new tab)',
        "Lamp | $12",
    ]
    assert rendered.token_count == count_tokens(rendered.text)
    assert not rendered.truncated
    assert set(rendered.boxes) == {"3", "4", "5", "6"}


def test_budget_drops_offscreen_text_before_elements():
    nodes = [_el("1", "button", "Visible action")]
    nodes += [_text(f"paragraph number {i} with some words", i + 10, vis=False) for i in range(200)]
    nodes += [_el("2", "link", "Footer link", vis=False)]
    rendered = render(_capture(nodes, height=20_000), budget=120)
    assert rendered.truncated
    assert rendered.token_count <= 120
    assert '[1] button "Visible action"' in rendered.text
    assert '[2] link "Footer link"' in rendered.text
    assert "omitted" in rendered.text


def test_scroll_position_is_reported_for_long_pages():
    rendered = render(_capture([_text("x", 1)], height=2800), budget=100)
    assert "viewport shows 0-25% of the page" in rendered.text
