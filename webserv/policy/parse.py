"""Reading a model's ``{"rationale": ..., "action": {...}}``: forgiving in form, strict in meaning.

Forgiven, because models really emit them: code fences, prose or a ``<think>`` block around
the object, single-quoted strings, trailing commas, bare keys, Python literals
(``True``/``None``), raw newlines inside strings, an output cut off after the action (the
missing closing braces are supplied), the action given as a JSON string, a bare action
without the wrapper, and ``[12]`` for the element id ``12``.

Not forgiven, since guessing would change what the model said: no JSON object at all, an
action type outside the action space, a missing or empty ``name`` or ``text``, a wrong value
type, and several objects naming different actions. Each becomes a :class:`ParseResult`
with ``error`` set; nothing here raises on model output.

``format_ok`` is the Shop-R1 format check (:func:`shop_r1_object`): one JSON object holding a string
``rationale`` and an ``action``, nothing repaired but fences and surrounding prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from webserv.browser.actions import Action, ActionError, parse
from webserv.policy.base import opera_form

OutputMode = Literal["opera", "grammar"]

#: OPeRA action types, with the names other datasets use for them.
OPERA_TYPES = {
    "click": "click",
    "type_and_submit": "type_and_submit",
    "input": "type_and_submit",  # OPeRA-filtered's name for typing into a field
    "terminate": "terminate",
}

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_BRACKETED_ID = re.compile(r"^\[\s*([^\[\]]+?)\s*\]$")


class LenientError(ValueError):
    """The text is not an object even by the lenient rules."""


@dataclass
class _Read:
    value: Any
    end: int
    repaired: bool  # needed more than strict JSON (quotes, commas, literals, closing braces)


class _Lenient:
    """A JSON reader that also takes the relaxations models produce (see the module doc)."""

    _ESCAPES: ClassVar[dict[str, str]] = {'"': '"', "'": "'", "\\": "\\", "/": "/"}
    _ESCAPES |= {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
    _WORDS: ClassVar[dict[str, Any]] = {"true": True, "false": False, "null": None}
    _PY_WORDS: ClassVar[dict[str, Any]] = {"True": True, "False": False, "None": None}
    _NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
    _BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.repaired = False
        self.truncated = False
        self._value: Any = None  # the value read last

    def read_object(self, start: int) -> _Read:
        end = self._object(start)
        return _Read(self._value, end, self.repaired or self.truncated)

    def _ws(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in " \t\r\n":
            i += 1
        return i

    def _value_at(self, i: int) -> int:
        i = self._ws(i)
        if i >= len(self.text):
            raise LenientError("the text ends where a value should be")
        ch = self.text[i]
        if ch == "{":
            return self._object(i)
        if ch == "[":
            return self._array(i)
        if ch in "\"'":
            return self._string(i)
        number = self._NUMBER.match(self.text, i)
        if number:
            literal = number.group(0)
            self._value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            return number.end()
        word = self._BARE.match(self.text, i)
        if word and word.group(0) in self._WORDS:
            self._value = self._WORDS[word.group(0)]
            return word.end()
        if word and word.group(0) in self._PY_WORDS:
            self.repaired = True
            self._value = self._PY_WORDS[word.group(0)]
            return word.end()
        raise LenientError(f"unexpected {ch!r} at {i}")

    def _string(self, i: int) -> int:
        quote = self.text[i]
        if quote == "'":
            self.repaired = True
        out: list[str] = []
        j = i + 1
        while j < len(self.text):
            ch = self.text[j]
            if ch == quote:
                self._value = "".join(out)
                return j + 1
            if ch == "\\" and j + 1 < len(self.text):
                nxt = self.text[j + 1]
                if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.text[j + 2 : j + 6]):
                    out.append(chr(int(self.text[j + 2 : j + 6], 16)))
                    j += 6
                    continue
                out.append(self._ESCAPES.get(nxt, "\\" + nxt))
                j += 2
                continue
            if ch in "\r\n":
                self.repaired = True
            out.append(ch)
            j += 1
        raise LenientError("a string is not closed")

    def _key(self, i: int) -> int:
        if self.text[i] in "\"'":
            return self._string(i)
        word = self._BARE.match(self.text, i)
        if not word:
            raise LenientError(f"expected a key at {i}")
        self.repaired = True
        self._value = word.group(0)
        return word.end()

    def _object(self, i: int) -> int:
        assert self.text[i] == "{"
        result: dict[str, Any] = {}
        j = self._ws(i + 1)
        while True:
            if j >= len(self.text):
                return self._close_at_eof(result, j)
            if self.text[j] == "}":
                self._value = result
                return j + 1
            j = self._key(j)
            key = self._value
            if not isinstance(key, str):
                raise LenientError("object keys must be strings")
            j = self._ws(j)
            if j >= len(self.text) or self.text[j] != ":":
                raise LenientError(f"expected ':' after key {key!r}")
            j = self._value_at(j + 1)
            result[key] = self._value
            j = self._ws(j)
            if j >= len(self.text):
                return self._close_at_eof(result, j)
            if self.text[j] == ",":
                j = self._ws(j + 1)
                if j < len(self.text) and self.text[j] == "}":
                    self.repaired = True  # trailing comma
                continue
            if self.text[j] != "}":
                raise LenientError(f"expected ',' or '}}' at {j}, got {self.text[j]!r}")

    def _array(self, i: int) -> int:
        result: list[Any] = []
        j = self._ws(i + 1)
        while True:
            if j >= len(self.text):
                raise LenientError("an array is not closed")
            if self.text[j] == "]":
                self._value = result
                return j + 1
            j = self._ws(self._value_at(j))
            result.append(self._value)
            if j < len(self.text) and self.text[j] == ",":
                j = self._ws(j + 1)
                if j < len(self.text) and self.text[j] == "]":
                    self.repaired = True
                continue
            if j >= len(self.text) or self.text[j] != "]":
                raise LenientError(f"expected ',' or ']' at {j}")

    def _close_at_eof(self, result: dict[str, Any], j: int) -> int:
        """An output cut off between members: the object holds what was complete."""
        self.truncated = True
        self._value = result
        return j


def _objects(text: str) -> list[_Read]:
    """Every top-level object the lenient reader finds in ``text``, left to right."""
    found: list[_Read] = []
    i = text.find("{")
    while i >= 0:
        reader = _Lenient(text)
        try:
            read = reader.read_object(i)
        except LenientError:
            i = text.find("{", i + 1)
            continue
        if isinstance(read.value, dict):
            found.append(read)
        i = text.find("{", max(read.end, i + 1))
    return found


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every object a model's reply holds, read leniently, left to right (a ``<think>`` block
    left out): for replies other than a shopper's decision (an analysis, a rating)."""
    return [read.value for read in _objects(_THINK.sub("", text))]


@dataclass
class ParseResult:
    """What one model output says: an action to take, or why there is none."""

    rationale: str = ""
    action: Action | None = None
    opera_action: dict[str, Any] | None = None
    format_ok: bool = False
    error: str = ""


def _element_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ActionError(f'"name" must be the element id as a string, got {value!r}')
    name = str(value).strip()
    bracketed = _BRACKETED_ID.match(name)
    if bracketed:
        name = bracketed.group(1).strip()
    if not name:
        raise ActionError('"name" is empty; give the id of an element on the page')
    return name


def opera_action(data: Any) -> dict[str, Any]:
    """Check and normalise an OPeRA action object; raise ActionError saying what is wrong."""
    if not isinstance(data, dict):
        raise ActionError(f"the action must be an object with a type, got {data!r}")
    lowered = {str(k).lower(): v for k, v in data.items()}
    kind = lowered.get("type")
    if not isinstance(kind, str) or kind.strip().lower() not in OPERA_TYPES:
        allowed = ", ".join(sorted({*OPERA_TYPES.values()}))
        raise ActionError(f"action type {kind!r} is not one of {allowed}")
    kind = OPERA_TYPES[kind.strip().lower()]
    if kind == "terminate":
        answer = lowered.get("answer")
        if answer is None or answer == "":
            return {"type": "terminate"}
        if isinstance(answer, bool) or not isinstance(answer, str | int | float):
            raise ActionError(f'"answer" must be text, got {answer!r}')
        return {"type": "terminate", "answer": str(answer)}
    if "name" not in lowered:
        raise ActionError(f'a {kind} action needs "name", the id of the element')
    action = {"type": kind, "name": _element_id(lowered["name"])}
    if kind == "type_and_submit":
        text = lowered.get("text")
        if isinstance(text, int | float) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not text.strip():
            raise ActionError('a type_and_submit action needs a non-empty "text"')
        action["text"] = text
    return action


def _action(value: Any, mode: OutputMode) -> tuple[Action, dict[str, Any] | None]:
    if isinstance(value, str) and value.strip().startswith("{"):
        inner = _objects(value)
        if len(inner) != 1:
            raise ActionError(f"the action string is not one JSON object: {value[:80]!r}")
        value = inner[0].value
    if mode == "opera":
        normalized = opera_action(value)
        return parse(normalized), normalized
    if isinstance(value, dict):
        return parse(value), None
    if not isinstance(value, str):
        raise ActionError(f'the action must be a call such as click("12"), got {value!r}')
    return parse(value), None


def _looks_like_action(data: dict[str, Any]) -> bool:
    keys = {str(k).lower() for k in data}
    return "type" in keys or ("name" in keys and "arguments" in keys)


def parse_output(text: str, mode: OutputMode = "opera") -> ParseResult:
    """Read a model output as a decision in ``mode`` (OPeRA JSON or the env's grammar)."""
    if not isinstance(text, str) or not text.strip():
        return ParseResult(error="empty output")
    body = _THINK.sub("", text)
    found = _objects(body)
    decisions = [r for r in found if any(str(k).lower() == "action" for k in r.value)]
    bare = False
    if not decisions:
        decisions = [r for r in found if _looks_like_action(r.value)]
        bare = True
    if not decisions:
        return ParseResult(error='no JSON object with an "action" in the output')
    results: list[ParseResult] = []
    for read in decisions:
        data = {str(k).lower(): v for k, v in read.value.items()}
        rationale = data.get("rationale", "")
        if not isinstance(rationale, str):
            return ParseResult(error=f'"rationale" must be text, got {rationale!r}')
        try:
            action, opera = _action(read.value if bare else data.get("action"), mode)
        except ActionError as err:
            return ParseResult(rationale=rationale, error=f"invalid action: {err}")
        results.append(
            ParseResult(
                rationale=rationale.strip(),
                action=action,
                opera_action=opera if opera is not None else opera_form(action),
            )
        )
    distinct = {str(r.action) for r in results}
    if len(distinct) > 1:
        listed = ", ".join(sorted(distinct))
        return ParseResult(error=f"the output names {len(distinct)} different actions: {listed}")
    chosen = results[-1]
    chosen.format_ok = shop_r1_object(text) is not None
    return chosen


def shop_r1_object(text: str) -> dict[str, Any] | None:
    """The reply's decision object (keys lower-cased) if it passes the format check, else None.

    The Shop-R1 format check: exactly one JSON object in the reply (code fences, a
    ``<think>`` block and prose around it aside), strict JSON (nothing repaired), holding a
    text ``rationale`` and an ``action``. Whether the action is in the action space is
    :func:`parse_output`'s question, not this one's.
    """
    if not isinstance(text, str):
        return None
    found = _objects(_THINK.sub("", text))
    if len(found) != 1 or found[0].repaired:
        return None
    data = {str(k).lower(): v for k, v in found[0].value.items()}
    if not isinstance(data.get("rationale"), str) or "action" not in data:
        return None
    return data
