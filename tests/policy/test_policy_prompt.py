"""Prompt building: persona and screenshot on and off, history with rationales, the budget."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from webserv.browser.tokens import count_tokens
from webserv.policy.base import Decision, Turn
from webserv.policy.persona import BUILTIN
from webserv.policy.prompt import PAGE_CUT, PAGE_OMITTED, PromptConfig, build_prompt, image_tokens


def png(width: int = 1280, height: int = 720) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    return out.getvalue()


def page(n: int, lines: int = 40) -> str:
    return "\n".join(
        f'[{i}] link "Product {n}-{i} with a long descriptive name"' for i in range(lines)
    )


def observation(text: str = "", screenshot: bytes | None = None) -> dict[str, Any]:
    return {
        "url": "http://127.0.0.1:9000/search?q=shoes",
        "title": "Search results",
        "tabs": [],
        "text": text or page(99),
        "goal": "Buy a pair of running shoes.",
        "screenshot": screenshot,
        "last_action_error": "",
    }


def history(n: int) -> list[Turn]:
    turns = []
    for i in range(n):
        decision = Decision(
            rationale=f"Reason number {i}.",
            action=f'click("{i}")',
            opera_action={"type": "click", "name": str(i)},
        )
        turns.append(
            Turn(
                url=f"http://127.0.0.1:9000/p{i}",
                title=f"Page {i}",
                text=page(i),
                decision=decision,
            )
        )
    return turns


def user_text(messages: list[dict[str, Any]]) -> str:
    content = messages[1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content if part["type"] == "text")


def test_text_only_without_persona():
    prompt = build_prompt(observation(screenshot=png()), [], PromptConfig(screenshot=False))
    system, user = prompt.messages
    assert system["role"] == "system" and user["role"] == "user"
    assert isinstance(user["content"], str)  # no image part at all
    assert "Who you are" not in system["content"]
    assert '"type": "type_and_submit"' in system["content"]
    assert "Buy a pair of running shoes." in user["content"]
    assert page(99) in user["content"]
    assert prompt.stats.image_tokens == 0


def test_screenshot_and_persona():
    shot = png()
    persona = BUILTIN[0]
    prompt = build_prompt(observation(screenshot=shot), [], PromptConfig(), persona)
    system, user = prompt.messages
    assert persona.name in system["content"] and persona.searches[0] in system["content"]
    image = next(p for p in user["content"] if p["type"] == "image_url")
    assert base64.b64decode(image["image_url"]["url"].split(",", 1)[1]) == shot
    assert prompt.stats.image_tokens == image_tokens(shot) == 46 * 26
    assert prompt.stats.prompt_tokens > prompt.stats.image_tokens


def test_grammar_mode_lists_the_env_actions():
    prompt = build_prompt(observation(), [], PromptConfig(mode="grammar", screenshot=False))
    system = prompt.messages[0]["content"]
    for action in ("click(id: str)", "select(id: str, option: str)", "stop(answer: str"):
        assert action in system
    assert '"type": "type_and_submit"' not in system


def test_history_keeps_rationales_and_the_last_k_pages():
    turns = history(5)
    turns[3].action_error = "no element with id 3 on the page"
    turns[4] = Turn(
        url="u", title="t", text=page(4), decision=Decision(format_error="no JSON object")
    )
    prompt = build_prompt(
        observation(), turns, PromptConfig(screenshot=False, history_pages=2, token_budget=50_000)
    )
    text = user_text(prompt.messages)
    for i in range(4):
        assert f"Reason number {i}." in text
        assert f'{{"type": "click", "name": "{i}"}}' in text
    assert "It failed: no element with id 3 on the page" in text
    assert "could not be used: no JSON object" in text
    assert page(3) in text and page(4) in text  # the last two pages in full
    assert page(0) not in text and page(2) not in text
    assert text.count(PAGE_OMITTED) == 3
    assert prompt.stats.pages_kept == 2 and prompt.stats.pages_dropped == 3


@pytest.mark.parametrize("screenshot", [False, True])
def test_budget_drops_the_oldest_pages_first(screenshot: bool):
    turns = history(6)
    generous = PromptConfig(screenshot=screenshot, history_pages=6, token_budget=100_000)
    full = build_prompt(observation(screenshot=png()), turns, generous)
    assert full.stats.pages_kept == 6
    per_page = count_tokens(page(0))
    budget = full.stats.prompt_tokens - 2 * per_page
    tight = build_prompt(
        observation(screenshot=png()), turns, generous.model_copy(update={"token_budget": budget})
    )
    text = user_text(tight.messages)
    assert tight.stats.prompt_tokens <= budget
    assert tight.stats.pages_dropped in (2, 3)
    dropped = tight.stats.pages_dropped
    assert all(page(i) not in text for i in range(dropped))
    assert all(page(i) in text for i in range(dropped, 6))
    assert all(f"Reason number {i}." in text for i in range(6))  # actions stay
    assert not tight.stats.page_cut


def test_budget_cuts_the_current_page_then_drops_steps():
    huge = page(99, lines=2_000)
    config = PromptConfig(screenshot=True, history_pages=3, token_budget=3_000)
    prompt = build_prompt(observation(huge, png()), history(40), config)
    assert prompt.stats.prompt_tokens <= 3_000
    assert prompt.stats.page_cut and prompt.stats.pages_kept == 0
    assert prompt.stats.steps_dropped > 0
    text = user_text(prompt.messages)
    assert PAGE_CUT in text and huge.splitlines()[0] in text
    assert f"[{prompt.stats.steps_dropped} earliest steps omitted]" in text
    assert "Reason number 39." in text  # the latest step survives


def test_image_tokens_rejects_non_png():
    with pytest.raises(ValueError, match="not a PNG"):
        image_tokens(b"GIF89a" + bytes(30))


def test_recorded_html_pages_are_described_by_their_name_attributes():
    """An OPeRA page is simplified HTML whose elements carry semantic ids: the prompt says to
    name elements by that attribute there, and by the bracketed id on webserv's own pages."""
    html = '<html><body><input name="nav_bar.search_input"/></body></html>'
    system = build_prompt(observation(text=html), [], PromptConfig(screenshot=False)).messages[0]
    assert "name attribute" in system["content"] and "[12]" not in system["content"]
    assert html in user_text(build_prompt(observation(text=html), [], PromptConfig()).messages)
    compact = build_prompt(observation(), [], PromptConfig(screenshot=False)).messages[0]
    assert "id in brackets" in compact["content"] and "name attribute" not in compact["content"]
