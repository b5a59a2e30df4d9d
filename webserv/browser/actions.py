"""The action grammar: parsing, prompt text, tool schema, and robust execution.

An action is a function call written as text, e.g. ``click("12")`` or
``type("5", "usb cable", submit=True)``. The text is parsed with :mod:`ast` and only literal
arguments are accepted; nothing is ever evaluated. Each action is one ``async`` function below;
its signature and docstring are the single source for parsing, argument checking, the prompt
text (:func:`prompt`) and the JSON tool schema (:func:`tool_schema`).

Also accepted: OPeRA-style JSON actions (``{"type": "click", "name": "12"}``,
``{"type": "type_and_submit", "name": "5", "text": "usb"}``, ``{"type": "terminate"}``) and
tool calls shaped like the schema (``{"name": "click", "arguments": {"id": "12"}}``).
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from webserv.browser.guard import BLANK
from webserv.browser.scripts import script


class ActionError(Exception):
    """An action that could not be parsed or carried out; the message goes to the agent."""


class Controls(Protocol):
    """What actions drive: implemented by :class:`webserv.browser.session.BrowserSession`."""

    @property
    def action_timeout_ms(self) -> int: ...

    @property
    def page(self) -> Page: ...

    def element(self, element_id: str) -> Locator: ...

    async def navigate(self, url: str) -> None: ...

    async def open_tab(self, url: str) -> None: ...

    async def switch_tab(self, index: int) -> None: ...

    async def close_tab(self) -> None: ...

    def finish(self, answer: str) -> None: ...

    def toggle_landmark(self, element_id: str) -> bool: ...


ActionFn = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Action:
    """A parsed action: the name of an action function and its checked arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        params = inspect.signature(ACTIONS[self.name]).parameters
        parts = []
        for name, value in self.args.items():
            default = params[name].default
            if default is not inspect.Parameter.empty:
                if value == default:
                    continue
                parts.append(f"{name}={value!r}")
            else:
                parts.append(json.dumps(value) if isinstance(value, str) else repr(value))
        return f"{self.name}({', '.join(parts)})"

    async def run(self, controls: Controls) -> None:
        await ACTIONS[self.name](controls, **self.args)


ACTIONS: dict[str, ActionFn] = {}


def _action(fn: ActionFn) -> ActionFn:
    ACTIONS[fn.__name__.rstrip("_")] = fn
    return fn


Direction = Literal["up", "down", "left", "right"]


# ---- execution helpers ------------------------------------------------------------------


def _web_page(url: str) -> str:
    """``url`` if goto and new_tab may open it: a web page (http or https, or a path relative to
    the current page) or about:blank. Any other scheme would give the agent a page of its own
    making, scripts and all (``data:``, ``javascript:``, ``blob:``), or something that is on no
    site (``file:``, ``chrome:``, ``view-source:``, ``about:`` pages)."""
    scheme = urlsplit(url).scheme.lower()  # as the browser reads it: blanks and tabs dropped
    if scheme in ("", "http", "https") or url.strip().lower() == BLANK:
        return url
    raise ActionError(
        f"{scheme}: URLs cannot be opened; goto and new_tab open web pages "
        f"(http:// or https://, or a path on the current site) or {BLANK}"
    )


def _short(error: Exception) -> str:
    """The first line of a Playwright error, without its call log."""
    return str(error).strip().splitlines()[0].removeprefix("Error: ")[:200]


_PROBE = script("probe.js")

_PROBE_BY_ID = f"""([id, arm]) => ({_PROBE})(
  [...document.querySelectorAll(`[data-wsid="${{CSS.escape(id)}}"]`)].slice(0, 1), arm)"""

_SELECT_TEXT = script("select_text.js")

_HIT = script("hit.js")


@dataclass(frozen=True)
class _Target:
    """An element an action is about to use, and what a probe of it found: where to click it
    right away, when it is uncovered in the main frame (None otherwise)."""

    locator: Locator
    visible: bool
    covered: bool
    point: tuple[float, float] | None = None


async def _target(controls: Controls, element_id: str, arm: bool = False) -> _Target:
    """Find the element (scrolled into view) or raise an ActionError saying why it is unusable.

    ``arm`` prepares a direct click (see :func:`click`).
    """
    locator = controls.element(element_id)
    state = await _probe(controls, element_id, arm)
    if state is None:
        raise ActionError(
            f"no element with id {element_id} on the page; use an id from the latest observation"
        )
    if state["inert"]:
        raise ActionError(
            f"element {element_id} is behind an open modal dialog; use or close the dialog first"
        )
    if state["disabled"]:
        raise ActionError(f"element {element_id} is disabled")
    point = tuple(state["point"]) if state["point"] else None
    return _Target(locator, state["visible"], state["covered"], point)


async def _probe(controls: Controls, element_id: str, arm: bool) -> dict[str, Any] | None:
    """What :data:`_PROBE` finds of the element (None: there is none)."""
    if "." in element_id:  # inside an iframe: found through Playwright's frame locators
        state = await controls.element(element_id).evaluate_all(_PROBE, arm)
    else:
        # In the main frame, one evaluation finds and probes it: a locator's first use in a
        # document injects Playwright's selector engine first (tens of ms on every new page).
        state = await controls.page.evaluate(_PROBE_BY_ID, [element_id, arm])
    return state if isinstance(state, dict) else None


async def _select_text(controls: Controls, element_id: str, text: str) -> bool:
    """Focus a text field of the main frame and select its text (see :data:`_SELECT_TEXT`)."""
    if "." in element_id:
        return False
    return bool(await controls.page.evaluate(_SELECT_TEXT, [element_id, text]))


async def _direct_click(page: Page, target: _Target) -> bool:
    """Click at the point the probe found; False if the click did not land on the element
    (then the page saw none of it). A page that navigated away at once was hit."""
    assert target.point is not None
    await page.mouse.click(*target.point)
    try:
        return bool(await page.evaluate(_HIT))
    except PlaywrightError:
        return True


async def _act(target: _Target, element_id: str, method: str, timeout_ms: int) -> None:
    """Call a Playwright input method on a probed element.

    Playwright waits (up to the timeout) until the element is stable and would receive the
    event at its click point, so a layout shift (content loading above it) cannot send the
    click elsewhere. A covered element gets the event dispatched on itself.
    """
    if target.covered and method == "click":
        await target.locator.evaluate("el => el.click()")
        return
    try:
        await getattr(target.locator, method)(timeout=timeout_ms)
    except PlaywrightTimeoutError as err:
        if method == "click":
            await target.locator.evaluate("el => el.click()")
            return
        raise ActionError(f"element {element_id} is hidden or covered by another element") from err


# ---- the actions -------------------------------------------------------------------------


@_action
async def click(c: Controls, id: str) -> None:
    """Click the element with the given id. A collapsed navigation lists its links when
    clicked (and folds again when clicked once more).

    Args:
        id: the element id shown in brackets in the observation, e.g. "12".

    Examples: click("12")
    """
    if c.toggle_landmark(id):
        return  # a folded navigation: the next observation lists its links
    # An uncovered element in the main frame is clicked at once, with a guard in the page that
    # stops the click if the layout moved it meanwhile; Playwright's click (which waits until
    # the element is stable and hit) is the fallback.
    target = await _target(c, id, arm=True)
    if target.point is not None and await _direct_click(c.page, target):
        return
    await _act(target, id, "click", c.action_timeout_ms)


@_action
async def type_(c: Controls, id: str, text: str, submit: bool = False) -> None:
    """Replace the content of a text field with text, then press Enter if submit is true.
    Typed into a drop-down (combobox), the text chooses the option it names.

    Args:
        id: the id of a textbox, searchbox, editable element or drop-down.
        text: the text to enter, or the drop-down option to choose.
        submit: press Enter afterwards (submits most search and login forms; a drop-down
            takes no Enter).

    Examples: type("5", "usb cable"), type("5", "usb cable", submit=True)
    """
    target = await _target(c, id)
    locator = target.locator
    if target.visible and await _select_text(c, id, text):
        # A plain text field of the main frame, focused with its text selected: the typed
        # text replaces it as Playwright's fill would, without its selector engine.
        if text:
            await c.page.keyboard.insert_text(text)
        else:
            await c.page.keyboard.press("Delete")
        if submit:
            await c.page.keyboard.press("Enter")  # see below
        return
    try:
        await locator.fill(text, timeout=c.action_timeout_ms)
    except PlaywrightError as err:
        if "not an <input>" in str(err) or "not editable" in str(err):
            # A drop-down, as when typing into it picks an option (OPeRA's actions have
            # no select); anything else is not a text field.
            if await _choose(locator, id, text, c.action_timeout_ms):
                return
            raise ActionError(f"element {id} is not a text field") from err
        raise ActionError(f"could not type into element {id}: {_short(err)}") from err
    if submit:
        # Whatever Enter sets off (a form submission, a navigation) is the settle wait's to
        # await; waiting for it here would report a slow navigation as a failed key press.
        await locator.press("Enter", timeout=c.action_timeout_ms, no_wait_after=True)


@_action
async def select(c: Controls, id: str, option: str) -> None:
    """Choose an option of a select (drop-down) element by its visible text or value.

    Args:
        id: the id of a combobox or listbox.
        option: the option text as listed in the observation.

    Examples: select("15", "Price: low to high")
    """
    locator = (await _target(c, id)).locator
    if not await _choose(locator, id, option, c.action_timeout_ms):
        raise ActionError(f"element {id} is not a select element")


async def _choose(locator: Locator, id: str, option: str, timeout_ms: int) -> bool:
    """Choose the option of a select element by its text or value; False if the element is
    no select element, an ActionError listing the options if it has no such option.

    An exact match wins; otherwise the one option whose text (or value) matches ignoring case
    and spacing, so "price: Low to High" picks "Price: low to high" when nothing else reads so.
    """
    found = await locator.evaluate(
        """(el, wanted) => {
          if (el.localName !== 'select') return {error: 'not-select'};
          const norm = (s) => s.replace(/[\\u200B-\\u200D\\u2060\\uFEFF\\u00AD]/g, '')
            .replace(/\\s+/g, ' ').trim();
          const loose = (s) => norm(s).toLowerCase();
          const options = [...el.options];
          const texts = options.map((o) => norm(o.label || o.text));
          const pick = (test) => options.map((o, i) => (test(o, texts[i]) ? i : -1))
            .filter((i) => i >= 0);
          let hits = pick((o, t) => t === norm(wanted) || o.value === wanted);
          if (!hits.length) {
            hits = pick((o, t) => loose(t) === loose(wanted));
            if (!hits.length) hits = pick((o) => loose(o.value) === loose(wanted));
          }
          return {hits, options: texts};
        }""",
        option,
    )
    if found.get("error"):
        return False
    listed = ", ".join(json.dumps(o) for o in found["options"])
    hits = found["hits"]
    if not hits:
        raise ActionError(f"element {id} has no option {option!r}; options are: {listed}")
    if len(hits) > 1 and len({found["options"][i] for i in hits}) > 1:
        named = ", ".join(json.dumps(found["options"][i]) for i in hits)
        raise ActionError(f"option {option!r} of element {id} could be any of {named}")
    await locator.select_option(index=hits[0], timeout=timeout_ms)
    return True


@_action
async def hover(c: Controls, id: str) -> None:
    """Move the mouse over the element (opens hover menus and tooltips).

    Args:
        id: the element id.

    Examples: hover("7")
    """
    target = await _target(c, id)
    await _act(target, id, "hover", c.action_timeout_ms)


@_action
async def press(c: Controls, key: str) -> None:
    """Press a key or key combination in the focused element.

    Args:
        key: a key name such as "Enter", "Tab", "Escape", "ArrowDown" or "Control+a".

    Examples: press("Enter"), press("Escape")
    """
    try:
        await c.page.keyboard.press(key)
    except PlaywrightError as err:
        raise ActionError(f"unknown key {key!r}: {_short(err)}") from err


@_action
async def scroll(c: Controls, direction: Direction) -> None:
    """Scroll the page (or the scrollable area in the middle of it) by most of a screen.

    Args:
        direction: "up", "down", "left" or "right".

    Examples: scroll("down")
    """
    await c.page.evaluate(
        """(dir) => {
          const dx = dir === 'left' ? -0.8 : dir === 'right' ? 0.8 : 0;
          const dy = dir === 'up' ? -0.8 : dir === 'down' ? 0.8 : 0;
          const scrollable = (el) => {
            const s = getComputedStyle(el);
            return (dy && /(auto|scroll)/.test(s.overflowY) && el.scrollHeight > el.clientHeight)
              || (dx && /(auto|scroll)/.test(s.overflowX) && el.scrollWidth > el.clientWidth);
          };
          let el = document.elementFromPoint(innerWidth / 2, innerHeight / 2);
          while (el && el !== document.body && !scrollable(el)) el = el.parentElement;
          const target = el && el !== document.body ? el : document.scrollingElement;
          target.scrollBy({left: dx * innerWidth, top: dy * innerHeight, behavior: 'instant'});
        }""",
        direction,
    )


@_action
async def goto(c: Controls, url: str) -> None:
    """Open a URL in the current tab.

    Args:
        url: an absolute URL, or a path relative to the current page.

    Examples: goto("/cart")
    """
    await c.navigate(_web_page(url))


@_action
async def back(c: Controls) -> None:
    """Go back to the previous page in this tab.

    Examples: back()
    """
    if await c.page.go_back(wait_until="commit") is None:
        raise ActionError("there is no previous page in this tab")


@_action
async def forward(c: Controls) -> None:
    """Go forward to the next page in this tab's history.

    Examples: forward()
    """
    if await c.page.go_forward(wait_until="commit") is None:
        raise ActionError("there is no next page in this tab")


@_action
async def new_tab(c: Controls, url: str) -> None:
    """Open a URL in a new tab and switch to it.

    Args:
        url: the URL to open.

    Examples: new_tab("/account")
    """
    await c.open_tab(_web_page(url))


@_action
async def switch_tab(c: Controls, i: int) -> None:
    """Switch to the tab with the given index (0 is the first tab; see the tab list).

    Args:
        i: the tab index.

    Examples: switch_tab(0)
    """
    await c.switch_tab(i)


@_action
async def close_tab(c: Controls) -> None:
    """Close the current tab and switch to the last remaining one.

    Examples: close_tab()
    """
    await c.close_tab()


@_action
async def stop(c: Controls, answer: str = "") -> None:
    """End the episode, with the answer to the task if it asks for one.

    Args:
        answer: the answer, or "" when the task only asks for something to be done.

    Examples: stop("$24.99"), stop()
    """
    c.finish(answer)


# ---- parsing -----------------------------------------------------------------------------


def _check_type(name: str, value: Any, hint: Any) -> Any:
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value not in choices:
            listed = ", ".join(json.dumps(choice) for choice in choices)
            raise ActionError(f"{name} must be one of {listed}, got {value!r}")
        return value
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ActionError(f"{name} must be a string, got {value!r}")
        return value if isinstance(value, str) else str(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ActionError(f"{name} must be True or False, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(f"{name} must be an integer, got {value!r}")
        return value
    raise TypeError(f"unsupported parameter type {hint!r}")


def _bind(name: str, args: list[Any], kwargs: dict[str, Any]) -> Action:
    fn = ACTIONS.get(name)
    if fn is None:
        raise ActionError(f"unknown action {name!r}; the actions are: {', '.join(ACTIONS)}")
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError as err:
        raise ActionError(f"{name}() takes {_usage(name)}: {err}") from err
    bound.apply_defaults()
    hints = get_type_hints(fn)
    checked = {
        param: _check_type(param, value, hints[param])
        for param, value in list(bound.arguments.items())[1:]
    }
    return Action(name, checked)


def _usage(name: str) -> str:
    fn = ACTIONS[name]
    hints = get_type_hints(fn)
    parts = []
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        hint = hints[param.name]
        kind = (
            "|".join(json.dumps(choice) for choice in get_args(hint))
            if get_origin(hint) is Literal
            else hint.__name__
        )
        default = "" if param.default is inspect.Parameter.empty else f" = {param.default!r}"
        parts.append(f"{param.name}: {kind}{default}")
    return "(" + ", ".join(parts) + ")"


_FENCE = re.compile(r"^```\w*\s*|\s*```$")


def _parse_call(text: str) -> Action:
    source = _FENCE.sub("", text.strip()).strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ActionError(f"cannot parse action {source!r}: {err.msg}") from err
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ActionError(f'an action is one function call such as click("12"), got {source!r}')
    try:
        args = [ast.literal_eval(arg) for arg in call.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except ValueError as err:
        raise ActionError(f"action arguments must be literals: {source}") from err
    if len(kwargs) != len(call.keywords):
        raise ActionError("**kwargs are not allowed in an action")
    return _bind(call.func.id, args, kwargs)


def _parse_json(data: dict[str, Any]) -> Action:
    if "type" in data:
        kind = data["type"]
        if kind == "click":
            return _bind("click", [data.get("name")], {})
        if kind == "type_and_submit":
            return _bind("type", [data.get("name"), data.get("text")], {"submit": True})
        if kind == "terminate":
            return _bind("stop", [data.get("answer", "")], {})
        raise ActionError(
            f"unknown JSON action type {kind!r}; use click, type_and_submit or terminate"
        )
    if "name" in data:
        arguments = data.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as err:
                raise ActionError(f"tool call arguments are not JSON: {err.msg}") from err
        if not isinstance(arguments, dict):
            raise ActionError("tool call arguments must be an object")
        return _bind(str(data["name"]), [], arguments)
    raise ActionError('a JSON action needs a "type" (OPeRA) or a "name" (tool call)')


def parse(action: str | dict[str, Any] | Action) -> Action:
    """Parse an action given as call text, as a JSON object (or its text), or already parsed."""
    if isinstance(action, Action):
        return action
    if isinstance(action, dict):
        return _parse_json(action)
    if not isinstance(action, str):
        raise ActionError(f"an action is text or a JSON object, got {type(action).__name__}")
    stripped = action.strip()
    if not stripped:
        raise ActionError("empty action")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise ActionError(f"invalid JSON action: {err.msg}") from err
        if not isinstance(data, dict):
            raise ActionError("a JSON action must be an object")
        return _parse_json(data)
    return _parse_call(stripped)


# ---- prompt text and tool schema ---------------------------------------------------------


@dataclass(frozen=True)
class _Doc:
    summary: str
    params: dict[str, str]
    examples: str


def _doc(fn: ActionFn) -> _Doc:
    summary: list[str] = []
    params: dict[str, str] = {}
    examples = ""
    section = "summary"
    for raw in (inspect.getdoc(fn) or "").splitlines():
        line = raw.strip()
        if line == "Args:":
            section = "args"
        elif line.startswith("Examples:"):
            examples = line.removeprefix("Examples:").strip()
            section = "done"
        elif section == "summary" and line:
            summary.append(line)
        elif section == "args" and ":" in line:
            name, text = line.split(":", 1)
            params[name.strip()] = text.strip()
    return _Doc(" ".join(summary), params, examples)


def prompt() -> str:
    """The action space described for a prompt, one action per paragraph."""
    blocks = []
    for name, fn in ACTIONS.items():
        doc = _doc(fn)
        blocks.append(f"{name}{_usage(name)}\n    {doc.summary}\n    Examples: {doc.examples}")
    return "\n\n".join(blocks)


def _json_type(hint: Any) -> dict[str, Any]:
    if get_origin(hint) is Literal:
        return {"type": "string", "enum": list(get_args(hint))}
    return {"type": {str: "string", bool: "boolean", int: "integer"}[hint]}


def tool_schema() -> list[dict[str, Any]]:
    """The actions as OpenAI-style function tools (``{"type": "function", "function": ...}``)."""
    tools = []
    for name, fn in ACTIONS.items():
        doc = _doc(fn)
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters.values())[1:]
        properties = {
            p.name: {**_json_type(hints[p.name]), "description": doc.params.get(p.name, "")}
            for p in params
        }
        required = [p.name for p in params if p.default is inspect.Parameter.empty]
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": doc.summary,
                    "parameters": {
                        "type": "object",
                        "properties": properties,
                        "required": required,
                    },
                },
            }
        )
    return tools
