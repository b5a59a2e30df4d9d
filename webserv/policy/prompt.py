"""Chat prompts for a shopper model, kept under a token budget.

The prompt follows Shop-R1 and Customer-R1: a system message with the role, the optional
persona, the action space and the output format (one JSON object, ``rationale`` first);
then one user message with the task intent, the session so far (each earlier step's page,
the rationale and the action taken, and what went wrong), the current page as compact text
and, when enabled, its screenshot as an image (the current page only, as in the VLM
follow-up paper).

Budget: text is counted with the project's tokenizer (:mod:`webserv.browser.tokens`,
cl100k_base) and the screenshot as Qwen2.5-VL counts it (one token per 28x28 pixel patch).
Only the last ``history_pages`` earlier pages are shown in full; while the prompt is over
``token_budget`` the oldest page still shown is replaced by an omission marker, then the
current page is cut from the bottom (down to half of what the system prompt, the task and the
image leave), then the oldest steps are left out altogether.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from pydantic import BaseModel, Field

from webserv.browser import actions
from webserv.browser.screenshot import MEDIA_TYPES, image_format
from webserv.browser.tokens import count_tokens
from webserv.policy.base import ContextStats, Turn
from webserv.policy.parse import OutputMode
from webserv.policy.persona import Persona

PAGE_OMITTED = "[earlier page omitted]"
PAGE_CUT = "[rest of the page cut to fit the context]"
#: Per-message framing tokens of chat templates (role markers), counted once per message.
MESSAGE_OVERHEAD = 4
#: Qwen2.5-VL turns each 28x28 pixel patch of an image into one token.
PATCH_PX = 28


class PromptConfig(BaseModel):
    """What the prompt holds and how big it may get."""

    mode: OutputMode = Field("opera", description="Action format asked for: opera or grammar.")
    screenshot: bool = Field(True, description="Send the current page's screenshot as an image.")
    history_pages: int = Field(3, ge=0, description="Earlier pages shown in full (the last K).")
    token_budget: int = Field(16_000, ge=500, description="Most prompt tokens, image included.")


OPERA_ACTIONS = """Actions (the "action" object):
{"type": "click", "name": "<id>"}
    Click the element with that id.
{"type": "type_and_submit", "name": "<id>", "text": "<text>"}
    Type text into the field with that id and press Enter; in a drop-down, text chooses
    the option with that text.
{"type": "terminate"}
    Leave the site and end the session. When the task asks a question, put the answer in it:
    {"type": "terminate", "answer": "<answer>"}"""

GRAMMAR_ACTIONS = """Actions: "action" is one call of the list below, as a string, e.g.
{{"rationale": "I want to see the cart.", "action": "click(\\"12\\")"}}

{actions}"""

OUTPUT_FORMAT = """Reply with a single JSON object and nothing else:
{"rationale": "<one short first-person sentence: why you take this action>", "action": ...}"""


#: How elements are named on each kind of page a policy may be shown.
PAGE_FORMATS = {
    "compact": "Pages are compact text; every element you can use has an id in brackets, e.g. "
    '[12] button "Add to Cart". Refer to elements by that id.',
    # OPeRA's recorded pages: simplified HTML whose elements carry semantic ids.
    "html": "Pages are simplified HTML; every element you can use has a name attribute, e.g. "
    '<button name="buy_box.add_to_cart">. Refer to elements by that name.',
}


def page_format(text: str) -> str:
    """``html`` for a page given as markup (a recorded OPeRA page), else ``compact``."""
    return "html" if text.lstrip().startswith("<") else "compact"


def system_prompt(config: PromptConfig, persona: Persona | None, page: str = "compact") -> str:
    """The role, the persona, the action space (elements named as ``page``, a key of
    :data:`PAGE_FORMATS`) and the output format."""
    parts = [
        "You are a customer shopping on an online store, acting the way a real person would.",
    ]
    if persona is not None:
        parts.append("# Who you are\n" + persona.describe())
    parts.append(
        "Each turn you get your task, what you did so far and why, recent pages of the site and "
        "the current page"
        + (" with a screenshot of it" if config.screenshot else "")
        + ". "
        + PAGE_FORMATS[page]
    )
    if config.mode == "opera":
        parts.append(OPERA_ACTIONS)
    else:
        parts.append(GRAMMAR_ACTIONS.format(actions=actions.prompt()))
    parts.append(OUTPUT_FORMAT)
    return "\n\n".join(parts)


def image_tokens(screenshot: bytes) -> int:
    """Qwen2.5-VL's token count for a PNG, JPEG or WebP screenshot (from its header)."""
    image_format(screenshot)  # anything else is not a screenshot of ours
    with Image.open(io.BytesIO(screenshot)) as image:  # reads the header, decodes nothing
        width, height = image.size
    return math.ceil(width / PATCH_PX) * math.ceil(height / PATCH_PX)


def _action_text(turn: Turn) -> str:
    decision = turn.decision
    if decision.action is None:
        return f"Your reply could not be used: {decision.format_error}"
    shown = decision.opera_action if decision.opera_action is not None else decision.action
    line = "You did: " + (
        json.dumps(shown, ensure_ascii=False) if isinstance(shown, dict) else shown
    )
    if turn.action_error:
        line += f"\nIt failed: {turn.action_error}"
    return line


@dataclass
class _Step:
    """One earlier step as prompt pieces, with their token costs."""

    header: str
    page: str
    after: str
    page_tokens: int
    rest_tokens: int
    show_page: bool


def _steps(history: Sequence[Turn], keep_pages: int) -> list[_Step]:
    steps = []
    first_shown = len(history) - keep_pages
    for i, turn in enumerate(history):
        header = f"### Step {i + 1}: {turn.title or 'page'} ({turn.url})"
        after = ""
        if turn.decision.rationale:
            after = f"You thought: {turn.decision.rationale}\n"
        after += _action_text(turn)
        steps.append(
            _Step(
                header=header,
                page=turn.text,
                after=after,
                page_tokens=count_tokens(turn.text) + 1,
                rest_tokens=count_tokens(header) + count_tokens(after) + 2,
                show_page=i >= first_shown,
            )
        )
    return steps


def _tabs(observation: Mapping[str, Any]) -> str:
    tabs = observation.get("tabs") or []
    if len(tabs) < 2:
        return ""
    listed = "; ".join(
        f"{t['index']}: {t['title'] or t['url']}" + (" (current)" if t["active"] else "")
        for t in tabs
    )
    return f"Open tabs: {listed}\n"


def cut_page(page: str, budget: int) -> str:
    """The first lines of ``page`` that fit ``budget`` tokens, with a marker if any were cut."""
    lines = page.splitlines()
    kept: list[str] = []
    used = count_tokens(PAGE_CUT) + 1
    for line in lines:
        cost = count_tokens(line) + 1
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    return "\n".join([*kept, PAGE_CUT]) if len(kept) < len(lines) else page


@dataclass
class Prompt:
    """Chat messages for one step, and how they were fitted into the budget."""

    messages: list[dict[str, Any]]
    stats: ContextStats


def _current_page_header(observation: Mapping[str, Any]) -> str:
    """The current page's heading, its open tabs and the last action's failure, if any."""
    header = (
        f"# Current page: {observation.get('title') or 'page'} ({observation.get('url', '')})\n"
        + _tabs(observation)
    )
    last_error = str(observation.get("last_action_error") or "")
    if last_error:
        header += f"Your last action failed: {last_error}\n"
    return header


def _screenshot(observation: Mapping[str, Any], config: PromptConfig) -> bytes | None:
    """The screenshot to send, or None when screenshots are off or the observation has none."""
    shot = observation.get("screenshot")
    return bytes(shot) if config.screenshot and isinstance(shot, bytes | bytearray) else None


def _history_tokens(steps: Sequence[_Step]) -> int:
    """Tokens the earlier steps take, each page shown in full or as the omission marker."""
    return sum(
        s.rest_tokens + (s.page_tokens if s.show_page else count_tokens(PAGE_OMITTED))
        for s in steps
    )


def _fit(steps: list[_Step], page: str, fixed: int, budget: int, stats: ContextStats) -> str:
    """Hide old pages, cut ``page`` (returned), then drop old ``steps`` to fit ``budget``."""
    page_tokens = count_tokens(page)

    def total() -> int:
        return fixed + page_tokens + _history_tokens(steps)

    stats.pages_dropped = sum(not s.show_page for s in steps)
    for step in steps:  # oldest shown page first
        if total() <= budget:
            break
        if step.show_page:
            step.show_page = False
            stats.pages_dropped += 1
    if total() > budget:
        # The current page keeps at least half of what the fixed parts leave; the history
        # gives way for the rest.
        room = budget - (total() - page_tokens)
        floor = (budget - fixed) // 2
        page = cut_page(page, max(room, floor, count_tokens(PAGE_CUT) + 1))
        page_tokens = count_tokens(page)
        stats.page_cut = True
    while steps and total() > budget:
        dropped = steps.pop(0)
        stats.steps_dropped += 1
        stats.pages_dropped -= not dropped.show_page
    stats.pages_kept = sum(s.show_page for s in steps)
    return page


def _session_section(steps: Sequence[_Step], steps_dropped: int) -> str:
    """The "session so far" section: each earlier step's page, rationale and action."""
    lines = ["# Your session so far"]
    if steps_dropped:
        lines.append(f"[{steps_dropped} earliest steps omitted]")
    for step in steps:
        lines.append(step.header)
        lines.append(step.page if step.show_page else PAGE_OMITTED)
        lines.append(step.after)
    return "\n".join(lines) + "\n"


def _user_content(text: str, screenshot: bytes | None) -> str | list[dict[str, Any]]:
    """The user message's content: ``text`` alone, or with ``screenshot`` as a data-URL image."""
    if screenshot is None:
        return text
    media_type = MEDIA_TYPES[image_format(screenshot)]
    url = f"data:{media_type};base64," + base64.b64encode(screenshot).decode("ascii")
    return [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": url}},
    ]


def build_prompt(
    observation: Mapping[str, Any],
    history: Sequence[Turn],
    config: PromptConfig,
    persona: Persona | None = None,
) -> Prompt:
    """The messages asking for the next decision on ``observation`` after ``history``."""
    page = str(observation.get("text", ""))
    system = system_prompt(config, persona, page_format(page))
    head = f"# Task\n{observation.get('goal') or 'Shop the way you usually do.'!s}\n"
    current_header = _current_page_header(observation)
    tail = "\nYour next action, as one JSON object:"
    screenshot = _screenshot(observation, config)
    img_tokens = image_tokens(screenshot) if screenshot is not None else 0
    fixed = (
        sum(count_tokens(part) for part in (system, head, current_header, tail))
        + img_tokens
        + 2 * MESSAGE_OVERHEAD
        + 16  # section headings, joins and the omitted-steps line
    )

    steps = _steps(history, config.history_pages)
    stats = ContextStats(prompt_tokens=0, image_tokens=img_tokens)
    page = _fit(steps, page, fixed, config.token_budget, stats)

    sections = [head]
    if steps:
        sections.append(_session_section(steps, stats.steps_dropped))
    sections.append(current_header + page + "\n" + tail)
    text = "\n".join(sections)
    stats.prompt_tokens = (
        count_tokens(system) + count_tokens(text) + img_tokens + 2 * MESSAGE_OVERHEAD
    )
    content = _user_content(text, screenshot if img_tokens else None)
    return Prompt(
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": content},
        ],
        stats=stats,
    )
