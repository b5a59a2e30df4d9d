"""The acted-on element in an observation text, found by its id.

Step records keep the element's id (``semantic_id``, the set-of-marks id of webserv's pages)
but not its box on the screenshot nor a click point, so the viewer marks the element where
the text names it:

- webserv's compact text gives each element a line that names it as ``[id]`` (a table row
  holds several: the row's line is marked);
- OPeRA's simplified HTML names it with ``name="id"``: its tag is marked, with its content
  when its closing tag follows (a void element such as ``<input>`` has none).
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass

#: Elements without content or closing tag.
_VOID = frozenset({"input", "img", "br", "hr", "meta", "link", "area", "source", "wbr"})
#: Content beyond this is not looked at for a closing tag: the opening tag alone is marked.
_MAX_CONTENT = 2_000
_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")


@dataclass(frozen=True)
class Segment:
    """A run of the text and the marks over it (e.g. ``("acted",)``; none: plain text)."""

    text: str
    marks: tuple[str, ...] = ()


def element_span(text: str, element_id: str) -> tuple[int, int] | None:
    """Where the text shows element ``element_id``: ``(start, end)``, or None."""
    if not element_id:
        return None
    line = re.search(rf"^.*(?<![\w\]])\[{re.escape(element_id)}\](?!\S).*$", text, re.M)
    if line:
        return line.span()
    named = re.search(rf"""name=(["']){re.escape(element_id)}\1""", text)
    if not named:
        return None
    start = text.rfind("<", 0, named.start())
    tag = _TAG.match(text, start) if start >= 0 else None
    if tag is None:
        return named.span()
    opened = text.find(">", named.end())
    if opened < 0:
        return start, len(text)
    end = opened + 1
    if text[opened - 1] == "/" or tag.group(1).lower() in _VOID:
        return start, end
    closing = text.find(f"</{tag.group(1)}>", end, end + _MAX_CONTENT)
    return (start, closing + len(tag.group(1)) + 3) if closing >= 0 else (start, end)


def segments(text: str, marks: dict[str, str | None]) -> list[Segment]:
    """``text`` cut where the elements of ``marks`` (mark name: element id) begin and end,
    each piece with the marks over it."""
    spans = {name: element_span(text, element) for name, element in marks.items() if element}
    cuts = sorted({0, len(text), *(i for span in spans.values() if span for i in span)})
    pieces = []
    for start, end in itertools.pairwise(cuts):
        over = tuple(
            name for name, span in spans.items() if span and span[0] <= start and end <= span[1]
        )
        pieces.append(Segment(text[start:end], over))
    return pieces


def element_text(text: str, element_id: str | None) -> str | None:
    """What the text says of the element: its line, or its HTML without tags; None when
    the text does not show it."""
    span = element_span(text, element_id or "")
    if span is None:
        return None
    shown = text[span[0] : span[1]]
    if shown.startswith("<"):  # HTML: its text, else (a field, an image) the tag itself
        shown = html.unescape(re.sub(r"<[^>]*>", " ", shown)).strip() or shown
    return " ".join(shown.split())[:300]
