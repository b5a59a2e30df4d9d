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
from dataclasses import dataclass, field
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
    pending: list[str] = Field(
        default_factory=list,
        description="What the page was still doing when observed: requests in flight, timers "
        "due (those not waited for say so), running animations.",
    )
    answer: str | None = Field(default=None, description="The answer given with stop(), if any.")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


#: A navigation or complementary landmark with more elements than this is folded into one
#: line when the page does not fit the token budget (until the agent unfolds it).
FOLD_AT = 20


@dataclass(frozen=True)
class Rendered:
    """The compact text of one capture, and what fitting it into the budget cost.

    ``landmarks`` maps the id of each foldable landmark shown to its key (see
    :func:`landmark_key`), the handle by which the agent unfolds it.
    """

    text: str
    token_count: int
    truncated: bool
    boxes: dict[str, tuple[int, int, int, int]]
    landmarks: dict[str, str] = field(default_factory=dict)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _element_line(node: dict[str, Any], in_heading: bool = True) -> str:
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
    return "#" * node["h"] + " " + line if in_heading and node.get("h") else line


def _same_target(a: dict[str, Any], b: dict[str, Any]) -> bool:
    href = a.get("href")
    return (
        a["k"] == b["k"] == "el"
        and a["role"] == b["role"] == "link"
        and isinstance(href, str)
        and bool(href)
        and href == b.get("href")
        and not href.endswith("#")
        and not href.lower().startswith("javascript:")
    )


def _merge_links(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two links in a row to the same page (a picture and a title) as one: the one in a
    heading, else the one with the longer name."""
    out: list[dict[str, Any]] = []
    for node in nodes:
        if out and _same_target(out[-1], node):
            before = out[-1]
            keep = node if node.get("h") or len(node["name"]) >= len(before["name"]) else before
            out[-1] = keep | {"vis": before["vis"] or node["vis"]}
            continue
        out.append(node)
    return out


def _cell(nodes: list[dict[str, Any]]) -> str:
    parts = []
    for node in _merge_links(nodes):
        kind = node["k"]
        if kind == "el":
            parts.append(_element_line(node, in_heading=False))
        elif kind == "img":
            parts.append(f"img {_quote(node['t'])}")
        elif kind in ("text", "heading"):
            parts.append(node["t"])
    # A cell's own pipes must not read as the next column.
    return " ".join(parts).replace("|", "\\|")


def _row(cells: list[list[dict[str, Any]]]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _has_element(cells: list[list[dict[str, Any]]]) -> bool:
    return any(node["k"] == "el" for cell in cells for node in cell)


def _table_lines(node: dict[str, Any]) -> list[tuple[str, int]]:
    """A data table: a line naming it, its header row, then one line per row, every cell in
    its column. The name and header go only after the rows they head."""
    rows = node["rows"]
    name = f" {_quote(node['name'])}" if node.get("name") else ""
    count = f"{len(rows)} row" + ("" if len(rows) == 1 else "s")
    head_priority = 0 if node["vis"] or any(r["vis"] for r in rows) else 2
    lines = [(f"table{name} ({count})", head_priority)]
    if node.get("head"):
        lines.append((_row(node["head"]), head_priority))
    for row in rows:
        element = _has_element(row["cells"])
        priority = (0 if row["vis"] else 2) if element else (1 if row["vis"] else 3)
        lines.append((_row(row["cells"]), priority))
    return lines


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

    for node in _merge_links(nodes):
        kind = node["k"]
        if kind == "text":
            key = (node["blk"], node["cell"])
            if run_key is not None and key[0] != run_key[0]:
                flush()
            if run and run_key is not None and key[1] != run_key[1]:
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
        elif kind == "table":
            lines.extend(_table_lines(node))
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


def landmark_key(landmark: dict[str, Any], index: int) -> str:
    """What identifies a landmark from page to page: its role and name (or its place)."""
    return f"{landmark['role']}:{landmark['name'] or f'#{index}'}"


def _elements_in(nodes: list[dict[str, Any]]) -> int:
    count = 0
    for node in nodes:
        if node["k"] == "el":
            count += 1
        elif node["k"] == "table":
            rows = [node["head"] or [], *(r["cells"] for r in node["rows"])]
            count += sum(n["k"] == "el" for cells in rows for cell in cells for n in cell)
    return count


@dataclass(frozen=True)
class _Landmark:
    id: str
    key: str
    header: str
    nodes: list[dict[str, Any]]
    elements: int
    visible: bool


def _landmarks(capture: dict[str, Any]) -> list[_Landmark]:
    found = []
    for index, landmark in enumerate(capture.get("landmarks", [])):
        nodes = [n for n in capture["nodes"] if n.get("lm") == index]
        name = f" {_quote(landmark['name'])}" if landmark["name"] else ""
        found.append(
            _Landmark(
                id=landmark["id"],
                key=landmark_key(landmark, index),
                header=f"{landmark['role']}{name}",
                nodes=nodes,
                elements=_elements_in(nodes),
                visible=landmark["vis"],
            )
        )
    return found


def _page_lines(
    nodes: list[dict[str, Any]],
    landmarks: list[_Landmark],
    folded: set[str],
    expanded: frozenset[str],
) -> list[tuple[str, int]]:
    """The page in reading order with the main content first and the navigation and
    complementary landmarks last, those in ``folded`` as one line each."""
    lines = _lines([n for n in nodes if n.get("main")])
    lines += _lines([n for n in nodes if not n.get("main") and "lm" not in n])
    for landmark in landmarks:
        if not landmark.nodes:
            continue
        priority = 0 if landmark.visible else 2
        if landmark.key in folded:
            # Its headings still say what is folded in it.
            titles = [
                n["t"] if n["k"] == "heading" else n["name"]
                for n in landmark.nodes
                if n["k"] == "heading" or (n["k"] == "el" and n.get("h"))
            ][:3]
            contents = ": " + "; ".join(titles) if titles else ""
            fold = f"[{landmark.id}] {landmark.header} collapsed ({landmark.elements} links)"
            lines.append((fold + contents, priority))
            continue
        if landmark.key in expanded:
            lines.append((f"[{landmark.id}] {landmark.header} expanded", priority))
        else:
            lines.append((landmark.header, priority))
        lines += _lines(landmark.nodes)
    return lines


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


def _boxes(nodes: list[dict[str, Any]]) -> dict[str, tuple[int, int, int, int]]:
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for node in nodes:
        if node["k"] == "el" and node["vis"] and node["box"][2] > 0:
            boxes[node["id"]] = tuple(node["box"])
        elif node["k"] == "table":
            for cells in [node["head"] or [], *(r["cells"] for r in node["rows"])]:
                for cell in cells:
                    boxes |= _boxes(cell)
    return boxes


def render(
    capture: dict[str, Any],
    budget: int,
    notices: Sequence[str] = (),
    expanded: frozenset[str] = frozenset(),
) -> Rendered:
    """Render a capture as compact text of at most ``budget`` tokens (when it can be cut).

    ``notices`` (e.g. a dialog the page opened) come first and are never cut. A page over the
    budget first has its long navigation folded (except the landmarks whose keys are in
    ``expanded``), then loses lines: off-screen text, off-screen elements, on-screen text,
    each from the bottom up.
    """
    scroll = _scroll_line(capture["scroll"])
    tail = [(scroll, 0)] if scroll else []
    head = [(notice, 0) for notice in notices]
    nodes, landmarks = capture["nodes"], _landmarks(capture)
    lines = head + _page_lines(nodes, landmarks, set(), expanded) + tail
    cost = {line: count_tokens(line) + 1 for line, _ in lines}
    foldable = {lm.key: lm.id for lm in landmarks if lm.elements > FOLD_AT and lm.nodes}
    if sum(cost[line] for line, _ in lines) > budget and set(foldable) - expanded:
        lines = head + _page_lines(nodes, landmarks, set(foldable) - expanded, expanded) + tail
        for line, _ in lines:
            if line not in cost:
                cost[line] = count_tokens(line) + 1
    costs = [cost[line] for line, _ in lines]
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
    return Rendered(
        text=text,
        token_count=count_tokens(text),
        truncated=truncated,
        boxes=_boxes(capture["nodes"]),
        landmarks={landmark_id: key for key, landmark_id in foldable.items()},
    )
