"""The fuzzy_match judge against an OpenAI-compatible endpoint.

No model can be loaded on this machine: the endpoint is a stand-in chat server on a
loopback port (tests/chat_server.py) that answers like a grader would.
"""

from __future__ import annotations

from typing import Any

from chat_server import chat_server

from webserv.tasks.config import ReferenceAnswers
from webserv.tasks.evaluators import match_contents
from webserv.tasks.judge import ChatJudge


def grader(body: dict[str, Any]) -> str:
    """Answers "correct" when the agent's answer contains the reference, verbosely."""
    prompt = body["messages"][-1]["content"]
    fields = dict(line.split(": ", 1) for line in prompt.splitlines() if ": " in line)
    reference = fields["Reference answer"].lower()
    answer = fields["Agent's answer"].lower()
    if reference in answer:
        return "Correct."
    if reference.split()[0] in answer:
        return "Partially correct: only part of it."
    return "Incorrect"


async def test_fuzzy_match_asks_the_endpoint_and_reads_the_verdict() -> None:
    with chat_server(grader) as chat:
        judge = ChatJudge(chat.base_url, "grader-7b")
        ref = ReferenceAnswers(fuzzy_match=["blue denim jacket"])
        intent = "Which jacket did I order last?"
        try:
            right = await match_contents(
                "It was the Blue Denim Jacket.", ref, intent=intent, judge=judge
            )
            partial = await match_contents("a blue one", ref, intent=intent, judge=judge)
            wrong = await match_contents("a red scarf", ref, intent=intent, judge=judge)
        finally:
            await judge.close()
    assert (right.score, partial.score, wrong.score) == (1.0, 0.0, 0.0)
    request = chat.requests[0]
    assert request["model"] == "grader-7b" and request["temperature"] == 0
    assert intent in request["messages"][-1]["content"]


async def test_a_reply_without_verdict_is_not_evaluable() -> None:
    with chat_server(lambda body: "I would rather not say.") as chat:
        judge = ChatJudge(chat.base_url, "m")
        try:
            result = await match_contents("x", ReferenceAnswers(fuzzy_match=["y"]), judge=judge)
        finally:
            await judge.close()
    assert result.score is None
    assert "no verdict" in result.checks[0]


async def test_a_failing_endpoint_is_not_evaluable() -> None:
    with chat_server(grader, fail_status=500) as chat:
        judge = ChatJudge(chat.base_url, "m", max_retries=0)
        try:
            result = await match_contents("x", ReferenceAnswers(fuzzy_match=["y"]), judge=judge)
        finally:
            await judge.close()
    assert result.score is None
    assert "judge endpoint failed" in result.checks[0]
