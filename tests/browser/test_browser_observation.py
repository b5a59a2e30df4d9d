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


def _link(id_, name, href, **extra):
    return _el(id_, "link", name, href=href, **extra)


def test_a_table_renders_one_line_per_row_under_its_header():
    table = {
        "k": "table",
        "name": "Orders",
        "vis": True,
        "head": [[_text("Order", 1)], [_text("Note", 1)], [_text("Qty", 1)]],
        "rows": [
            {"cells": [[_link("1", "#1", "/o/1")], [], [_el("2", "textbox", "Qty")]], "vis": True},
            {"cells": [[_text("a | b", 2)], [_text("x", 2)], [_text("3", 2)]], "vis": False},
        ],
    }
    rendered = render(_capture([table]), budget=500)
    assert rendered.text.splitlines() == [
        'table "Orders" (2 rows)',
        "| Order | Note | Qty |",
        '| [1] link "#1" |  | [2] textbox "Qty" |',
        "| a \\| b | x | 3 |",
    ]
    assert set(rendered.boxes) == {"1", "2"}
    # Cut to the budget, rows go from the bottom (off-screen text first); the header stays.
    small = render(_capture([table], height=2000), budget=30)
    assert "| Order | Note | Qty |" in small.text and "a \\| b" not in small.text


def test_adjacent_links_to_one_target_are_merged():
    nodes = [
        _link("1", "Lamp", "http://s/p/1"),
        _link("2", "Lamp", "http://s/p/1", h=3),
        _link("3", "Toggle", "http://s/p#"),
        _link("4", "Toggle", "http://s/p#"),
        _link("5", "Lamp, front view", "http://s/p/2"),
        _link("6", "Lamp", "http://s/p/2"),
    ]
    assert render(_capture(nodes), budget=500).text.splitlines() == [
        '### [2] link "Lamp"',
        '[3] link "Toggle"',
        '[4] link "Toggle"',
        '[5] link "Lamp, front view"',
    ]


def test_side_landmarks_follow_the_content_and_fold_only_when_over_budget():
    menu = [{"k": "heading", "t": "Site menu", "level": 2, "vis": True, "lm": 0}]
    menu += [_el("8", "link", "Contents", h=3, lm=0)]
    menu += [_el(str(i), "link", f"Menu entry {i}", lm=0) for i in range(10, 40)]
    content = [{"k": "heading", "t": "Posts", "level": 1, "vis": True, "main": True}]
    content += [_text(f"post number {i}", 100 + i, vis=False) | {"main": True} for i in range(5)]
    capture = _capture(menu + content) | {
        "landmarks": [{"id": "9", "role": "navigation", "name": "Main menu", "vis": True}]
    }
    roomy = render(capture, budget=2000)
    lines = roomy.text.splitlines()
    assert lines[0] == "# Posts" and lines.index('navigation "Main menu"') == 6
    assert lines[7:9] == ["## Site menu", '### [8] link "Contents"']
    assert roomy.landmarks == {"9": "navigation:Main menu"} and not roomy.truncated
    tight = render(capture, budget=120)
    assert '[9] navigation "Main menu" collapsed (31 links): Site menu; Contents' in tight.text
    assert "Menu entry" not in tight.text and "post number 4" in tight.text
    unfolded = render(capture, budget=120, expanded=frozenset({"navigation:Main menu"}))
    assert '[9] navigation "Main menu" expanded' in unfolded.text
    assert '[10] link "Menu entry 10"' in unfolded.text and unfolded.truncated
