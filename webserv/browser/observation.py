"""The observation a step returns, and the compact text rendering of a DOM capture.

``capture.js`` returns a flat list of nodes in document (reading) order; :func:`render` turns
it into lines such as::

    # Laptops
    [12] link "Next page"
    [14] textbox "Search" value="usb"
    [15] combobox "Sort by" value="Price" options=[Relevance | Price | Name]
    Free shipping over $50

and drops the least useful lines (text outside the viewport first, then interactive elements
outside it, then text inside it) until the result fits the token budget.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from webserv.browser.tokens import count_tokens


class Tab(BaseModel):
    """One open tab of a session."""

    index: int
    url: str
    title: str
    active: bool


class Observation(BaseModel):
    """What the agent sees after a reset or a step."""

    url: str
    title: str
    tabs: list[Tab]
    text: str = Field(description="Compact page: interactive elements with ids, headings, text.")
    screenshot: bytes | None = Field(default=None, description="PNG of the viewport, if asked.")
    last_action: str = ""
    last_action_error: str = ""
    goal: str = ""
    token_count: int = Field(description="cl100k_base tokens in `text`.")
    settle_ms: float = Field(description="How long the step waited for the page to settle.")
    settled: bool = Field(description="False when the settle cap was hit first.")
    truncated: bool = Field(description="True when lines were dropped to fit the token budget.")
    blocked_urls: list[str] = Field(
        default_factory=list, description="Requests the URL guard aborted since the last step."
    )
    answer: str | None = Field(default=None, description="The answer given with stop(), if any.")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass(frozen=True)
class Rendered:
    """The compact text of one capture, and what fitting it into the budget cost."""

    text: str
    token_count: int
    truncated: bool
    boxes: dict[str, tuple[int, int, int, int]]


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _element_line(node: dict[str, Any]) -> str:
    parts = [f"[{node['id']}] {node['role']}"]
    if node.get("name"):
        parts.append(_quote(node["name"]))
    if node.get("value"):
        parts.append(f"value={_quote(node['value'])}")
    if "options" in node:
        more = f" | +{node['moreOptions']} more" if node.get("moreOptions") else ""
        parts.append("options=[" + " | ".join(node["options"]) + more + "]")
    for flag in ("checked", "selected", "disabled", "required", "focused"):
        if node.get(flag):
            parts.append(flag)
    if "expanded" in node:
        parts.append("expanded" if node["expanded"] else "collapsed")
    if node.get("newTab"):
        parts.append("(opens new tab)")
    line = " ".join(parts)
    return "#" * node["h"] + " " + line if node.get("h") else line


def _lines(nodes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(line, priority) pairs in reading order; lower priority numbers are kept longer."""
    lines: list[tuple[str, int]] = []
    run: list[str] = []
    run_key: tuple[int, int] | None = None
    run_visible = False

    def flush() -> None:
        nonlocal run, run_key, run_visible
        if run:
            lines.append((" ".join(run), 1 if run_visible else 3))
        run, run_key, run_visible = [], None, False

    for node in nodes:
        kind = node["k"]
        if kind == "text":
            key = (node["blk"], node["cell"])
            if run_key is not None and key[0] != run_key[0]:
                flush()
            if run and key[1] != run_key[1]:
                run.append("|")
            heading = node.get("h", 0)
            run.append(("#" * heading + " " if heading and not run else "") + node["t"])
            run_key = key
            run_visible = run_visible or node["vis"]
            continue
        flush()
        if kind == "heading":
            lines.append(("#" * node["level"] + " " + node["t"], 0 if node["vis"] else 2))
        elif kind == "img":
            lines.append((f"img {_quote(node['t'])}", 1 if node["vis"] else 3))
        else:
            lines.append((_element_line(node), 0 if node["vis"] else 2))
    flush()
    return _dedupe(lines)


def _dedupe(lines: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Drop a text line repeating the line right before it (a caption under its own link)."""
    out: list[tuple[str, int]] = []
    for line, priority in lines:
        if out and out[-1][0].endswith(_quote(line)):
            continue
        out.append((line, priority))
    return out


def _scroll_line(scroll: dict[str, int]) -> str | None:
    height, vh = scroll["height"], scroll["vh"]
    if height <= vh * 1.05:
        return None
    top = round(100 * scroll["y"] / height)
    bottom = round(100 * min(height, scroll["y"] + vh) / height)
    return f"(viewport shows {top}-{bottom}% of the page; scroll for more)"


_OMITTED = "(some off-screen content omitted; scroll to see it)"


def _join(lines: list[tuple[str, int]], keep: list[bool]) -> str:
    kept = [line for (line, _), k in zip(lines, keep, strict=True) if k]
    return "\n".join([*kept, _OMITTED])


def render(capture: dict[str, Any], budget: int, notices: Sequence[str] = ()) -> Rendered:
    """Render a capture as compact text of at most ``budget`` tokens (when it can be cut).

    ``notices`` (e.g. a dialog the page opened) come first and are never cut.
    """
    nodes = capture["nodes"]
    boxes = {
        n["id"]: tuple(n["box"]) for n in nodes if n["k"] == "el" and n["vis"] and n["box"][2] > 0
    }
    lines = [(notice, 0) for notice in notices] + _lines(nodes)
    scroll = _scroll_line(capture["scroll"])
    if scroll:
        lines.append((scroll, 0))
    costs = [count_tokens(line) + 1 for line, _ in lines]
    # Drop order: off-screen text, off-screen elements, on-screen text, each from the bottom up.
    order = [i for p in (3, 2, 1) for i in range(len(lines) - 1, -1, -1) if lines[i][1] == p]
    keep = [True] * len(lines)
    total = sum(costs)
    limit = budget if total <= budget else budget - count_tokens(_OMITTED) - 1
    text = "\n".join(line for line, _ in lines)
    truncated = False
    while order and (total > limit or count_tokens(text) > budget):
        i = order.pop(0)
        keep[i] = False
        total -= costs[i]
        truncated = True
        if total <= limit:
            text = _join(lines, keep)
    if truncated:
        text = _join(lines, keep)
    return Rendered(text=text, token_count=count_tokens(text), truncated=truncated, boxes=boxes)
