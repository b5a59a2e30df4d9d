"""Reading facts out of an observation's text: what ``webserv bench observe`` scores.

An observation's ``text`` has one item per line: elements
(``[ID] ROLE "NAME" value="V" options=[A | B] checked disabled``, the name and value
JSON-quoted, a line of a heading prefixed with ``#``), headings, images and plain text, and
data tables: a line ``table "CAPTION" (N rows)``, a header line ``| Col A | Col B |`` and
one line per row, cells separated by ``" | "`` (a ``|`` inside a cell written ``\\|``), a
cell holding text and elements inline.

A fact is one thing a person reads on the page, written by hand from the page itself:

* ``{"control": ROLE, "name": NAME}`` (optional ``value``, ``checked``, ``disabled``): an
  element of that role with that name (and value, and flag);
* ``{"label": L, "value": V}``: V after L on L's line, or on the next line;
* ``{"cell": V, "row": R, "column": C}``: in a table, V in the cell of the row showing R,
  under the header cell showing C;
* ``{"text": T}``: T somewhere in the observation.

Strings are compared as a reader would: whitespace collapsed, icon-font glyphs (Unicode
private use characters) dropped, and a trailing ``:`` or required-field ``*`` of a name not
part of it. Roles that are spellings of one control (a text field: ``textbox``,
``searchbox``, ``spinbutton``) count as one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Roles an agent reads as the same kind of control.
ROLE_FAMILIES = ({"textbox", "searchbox", "spinbutton"},)
FLAGS = frozenset(
    {"checked", "selected", "disabled", "required", "focused", "expanded", "collapsed"}
)

#: ARIA's roles (and webserv's ``clickable``; DPUB's ``doc-*`` and the ``graphics-*`` ones are
#: matched by prefix): ``[0] is`` in a line of text is no element.
ROLES = frozenset(
    """alert alertdialog application article banner blockquote button caption cell checkbox
    clickable code columnheader combobox complementary contentinfo definition deletion dialog
    document emphasis feed figure form generic grid gridcell group heading img insertion link
    list listbox listitem log main marquee math menu menubar menuitem menuitemcheckbox
    menuitemradio meter navigation none note option paragraph presentation progressbar radio
    radiogroup region row rowgroup rowheader scrollbar search searchbox separator slider
    spinbutton status strong subscript superscript switch tab table tablist tabpanel term
    textbox time timer toolbar tooltip tree treegrid treeitem""".split()
)

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ELEMENT = re.compile(
    r"\[(?P<id>\d+(?:\.\d+)*)\] "
    rf"(?P<role>(?:doc|graphics)-[a-z]+|{'|'.join(sorted(ROLES, key=len, reverse=True))})\b"
    rf"(?: (?P<name>{_QUOTED}))?"
    rf"(?: value=(?P<value>{_QUOTED}))?"
    r"(?: options=\[(?P<options>.*?)\](?= |$))?"
    r"(?P<flags>(?: (?:checked|selected|disabled|required|focused|expanded|collapsed))*)"
)
#: An element, or another quoted string (a table's caption, a navigation's name).
_READABLE = re.compile(rf"{_ELEMENT.pattern}|(?P<quoted>{_QUOTED})")
_TABLE = re.compile(rf"^table(?: {_QUOTED})?(?: \(\d+ rows?\))?\s*$")
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def norm(text: str) -> str:
    """``text`` as it is compared: icon glyphs dropped, whitespace collapsed."""
    return " ".join(_PRIVATE_USE.sub("", text).split())


def norm_name(name: str) -> str:
    """An accessible name as it is compared: also without a trailing ``:`` or ``*``."""
    return norm(name).rstrip(":* ").strip()


def _unquote(quoted: str | None) -> str:
    if not quoted:
        return ""
    try:
        return str(json.loads(quoted))
    except ValueError:
        return quoted[1:-1]


@dataclass(frozen=True)
class Element:
    """One element as an observation line shows it."""

    id: str
    role: str
    name: str
    value: str = ""
    flags: frozenset[str] = frozenset()


def elements(line: str) -> list[Element]:
    """Every element written on ``line`` (one, or several inline in a table row)."""
    found = []
    stripped = line.lstrip("# ")
    if stripped.startswith("|"):
        matches = list(_ELEMENT.finditer(stripped))
    else:
        first = _ELEMENT.match(stripped)
        matches = [first] if first else []
    for match in matches:
        found.append(
            Element(
                id=match["id"],
                role=match["role"],
                name=_unquote(match["name"]),
                value=_unquote(match["value"]),
                flags=frozenset(match["flags"].split()),
            )
        )
    return found


def plain(line: str) -> str:
    """What a reader takes from ``line``: each element as its name (and value), each other
    JSON-quoted string decoded, the rest as written."""

    def readable(match: re.Match[str]) -> str:
        if match["quoted"] is not None:
            return _unquote(match["quoted"])
        parts = [_unquote(match["name"]), _unquote(match["value"])]
        return " ".join(p for p in parts if p)

    return norm(_READABLE.sub(readable, line))


@dataclass
class Table:
    """A data table of an observation: its header cells and its rows of cells."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


def split_cells(line: str) -> list[str]:
    """The cells of a table line ``| a | b \\| c |``: ``["a", "b | c"]`` (raw, not plain)."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.replace("\\|", "|").strip() for cell in _CELL_SPLIT.split(body)]


def tables(text: str) -> list[Table]:
    """The data tables of an observation's text."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if not _TABLE.match(lines[i].strip()):
            i += 1
            continue
        i += 1
        block = []
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            block.append(split_cells(lines[i]))
            i += 1
        if block:
            found.append(Table(header=block[0], rows=block[1:]))
    return found


def _same_role(a: str, b: str) -> bool:
    return a == b or any(a in family and b in family for family in ROLE_FAMILIES)


def _control_found(fact: dict[str, Any], text: str) -> bool:
    want = norm_name(fact["name"])
    for line in text.splitlines():
        for element in elements(line):
            if not _same_role(element.role, fact["control"]) or norm_name(element.name) != want:
                continue
            if "value" in fact and norm(element.value) != norm(fact["value"]):
                continue
            if "checked" in fact and ("checked" in element.flags) != bool(fact["checked"]):
                continue
            if fact.get("disabled") and "disabled" not in element.flags:
                continue
            return True
    return False


def _label_found(fact: dict[str, Any], lines: list[str]) -> bool:
    label, value = norm(fact["label"]), norm(fact["value"])
    for i, line in enumerate(lines):
        at = line.find(label)
        while at >= 0:
            if value in line[at + len(label) :]:
                return True
            at = line.find(label, at + 1)
        if label in line and i + 1 < len(lines) and value in lines[i + 1]:
            return True
    return False


def _column(header: list[str], column: str) -> int | None:
    cells = [plain(cell) for cell in header]
    if column in cells:
        return cells.index(column)
    return next((i for i, cell in enumerate(cells) if column in cell), None)


def _row(rows: list[list[str]], row: str) -> list[str] | None:
    """The row showing ``row``: one with a cell that is exactly it, else the first one with
    a cell containing it."""
    plains = [[plain(cell) for cell in r] for r in rows]
    for r in plains:
        if row in r:
            return r
    return next((r for r in plains if any(row in cell for cell in r)), None)


def _cell_found(fact: dict[str, Any], text: str) -> bool:
    value, row_key, column = norm(fact["cell"]), norm(fact["row"]), norm(fact["column"])
    for table in tables(text):
        index = _column(table.header, column)
        if index is None:
            continue
        row = _row(table.rows, row_key)
        if row is not None and index < len(row) and value in row[index]:
            return True
    return False


def found(fact: dict[str, Any], text: str) -> bool:
    """Whether an agent reading ``text`` can read ``fact``."""
    if "control" in fact:
        return _control_found(fact, text)
    if "cell" in fact:
        return _cell_found(fact, text)
    lines = [plain(line) for line in text.splitlines()]
    if "label" in fact:
        return _label_found(fact, lines)
    if "text" in fact:
        return norm(fact["text"]) in "\n".join(lines)
    raise ValueError(f"not a fact: {fact}")


def kind(fact: dict[str, Any]) -> str:
    """``control``, ``label``, ``cell`` or ``text``."""
    return next(k for k in ("control", "cell", "label", "text") if k in fact)


def describe(fact: dict[str, Any]) -> str:
    """One line naming a fact, for the list of missed ones."""
    if "control" in fact:
        extra = "".join(f" {k}={fact[k]!r}" for k in ("value", "checked", "disabled") if k in fact)
        return f'{fact["control"]} "{fact["name"]}"{extra}'
    if "cell" in fact:
        return f'cell "{fact["cell"]}" (row "{fact["row"]}", column "{fact["column"]}")'
    if "label" in fact:
        return f'"{fact["label"]}" -> "{fact["value"]}"'
    return f'text "{fact["text"]}"'


def element_id(text: str, role: str, name: str) -> str | None:
    """The id of the first element of ``role`` named ``name`` in an observation's text."""
    want = norm_name(name)
    for line in text.splitlines():
        for element in elements(line):
            if _same_role(element.role, role) and norm_name(element.name) == want:
                return element.id
    return None


def ids(text: str) -> Iterator[str]:
    """Every element id an observation's text shows."""
    for line in text.splitlines():
        for element in elements(line):
            yield element.id
