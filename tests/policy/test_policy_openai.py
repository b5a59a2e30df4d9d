"""The VLM shopper over real HTTP against an OpenAI-compatible chat-completions server.

No model can be loaded on the test machine, so the server is the stand-in of
``chat_server.py`` on a loopback port: it records each request and answers with canned
text. The tests check what a vLLM server would receive (image, persona, history) and how
the replies are turned into decisions.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from chat_server import chat_server
from PIL import Image

from webserv.policy.base import Decision, Turn
from webserv.policy.persona import BUILTIN
from webserv.policy.prompt import PromptConfig
from webserv.policy.vlm import ChatModel, ModelConfig, ModelError, VLMShopper

REPLY = (
    '```json\n{"rationale": "These look right.", "action": {"type": "click", "name": "12"}}\n```'
)


def screenshot() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 360), "navy").save(out, format="PNG")
    return out.getvalue()


def observation(png: bytes | None) -> dict[str, Any]:
    return {
        "url": "http://127.0.0.1:9000/search?q=running+shoes",
        "title": "Search results",
        "tabs": [],
        "text": '[12] link "Marlowe Cushioned Running Shoes"\n$185.99',
        "goal": "Buy running shoes you like.",
        "screenshot": png,
        "last_action_error": "",
    }


HISTORY = [
    Turn(
        url="http://127.0.0.1:9000/",
        title="Home",
        text='[10] combobox "Search"',
        decision=Decision(
            rationale="I came here for running shoes.",
            action='type("10", "running shoes", submit=True)',
            opera_action={"type": "type_and_submit", "name": "10", "text": "running shoes"},
        ),
    )
]


def request_text(body: dict[str, Any]) -> str:
    parts = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [p["text"] for p in content if p["type"] == "text"]
    return "\n".join(parts)


async def test_request_carries_image_persona_and_history():
    png = screenshot()
    persona = BUILTIN[1]
    with chat_server(lambda body: REPLY) as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="qwen-vl-stand-in"))
        try:
            policy = VLMShopper(model, PromptConfig(), persona)
            decision = await policy.act(observation(png), HISTORY)
        finally:
            await model.close()
    assert len(chat.requests) == 1
    body = chat.requests[0]
    assert body["model"] == "qwen-vl-stand-in" and body["temperature"] == 0.6
    text = request_text(body)
    assert persona.name in text and persona.shopping_style in text
    assert "I came here for running shoes." in text  # the past rationale
    assert '"text": "running shoes"' in text  # the past action
    assert "Buy running shoes you like." in text and "Marlowe Cushioned Running Shoes" in text
    images = [
        part["image_url"]["url"]
        for message in body["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(images[0].split(",", 1)[1]) == png

    assert decision.action == 'click("12")'
    assert decision.opera_action == {"type": "click", "name": "12"}
    assert decision.rationale == "These look right." and decision.format_ok
    assert decision.raw_output == REPLY
    assert decision.usage is not None and decision.usage.total_tokens == 12
    assert decision.model_ms is not None and decision.policy_ms >= decision.model_ms
    assert decision.context is not None and decision.context.image_tokens == 23 * 13


async def test_text_only_grammar_mode_without_persona():
    with chat_server(lambda body: '{"rationale": "r", "action": "back()"}') as chat:
        model = ChatModel(
            ModelConfig(endpoint=chat.base_url, model="m", temperature=0.0, json_mode=True)
        )
        try:
            policy = VLMShopper(model, PromptConfig(mode="grammar", screenshot=False))
            decision = await policy.act(observation(screenshot()), [])
        finally:
            await model.close()
    body = chat.requests[0]
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0.0
    assert all(isinstance(m["content"], str) for m in body["messages"])  # no image part
    assert "Who you are" not in request_text(body)
    assert decision.action == "back()" and decision.opera_action is None


async def test_unreadable_reply_is_a_format_error_not_a_crash():
    with chat_server(lambda body: "I think I'd click on the shoes!") as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="m"))
        try:
            decision = await VLMShopper(model).act(observation(None), HISTORY)
        finally:
            await model.close()
    assert decision.action is None and not decision.format_ok
    assert 'no JSON object with an "action"' in decision.format_error
    assert decision.raw_output == "I think I'd click on the shoes!"


async def test_failing_endpoint_raises_model_error():
    with chat_server(lambda body: REPLY, fail_status=500) as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="m", max_retries=0))
        try:
            with pytest.raises(ModelError, match="failed"):
                await VLMShopper(model).act(observation(None), [])
        finally:
            await model.close()
