"""The policy protocol: what a shopper policy sees, what it decides, and what that cost.

A policy is asked ``await policy.act(observation, history)`` once per step. ``observation`` is
the env's observation as a dict (``text``, ``url``, ``title``, ``goal``, optional
``screenshot`` PNG bytes, ...); ``history`` is the episode's earlier turns, oldest first.
It returns a :class:`Decision`: the first-person rationale, the action for the env (in the
env's grammar, e.g. ``click("12")``), the same action in OPeRA form when the OPeRA action
space can express it, the raw model output, token usage and timing. A model output that
cannot be read becomes a decision with ``format_error`` set and no action; it never raises.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field

from webserv.browser.actions import Action, parse

#: An element's id where the page text shows it: ``[12] button "Save"``.
ELEMENT_ID = re.compile(r"\[(\d+(?:\.\d+)*)\] ")


class Usage(BaseModel):
    """Tokens a model call used, as the endpoint reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ContextStats(BaseModel):
    """How the prompt was fitted into its token budget."""

    prompt_tokens: int = Field(description="Estimated prompt tokens (cl100k_base + image patches).")
    image_tokens: int = Field(0, description="Part of prompt_tokens estimated for the screenshot.")
    pages_kept: int = Field(0, description="Earlier pages shown in full.")
    pages_dropped: int = Field(0, description="Earlier pages replaced by an omission marker.")
    steps_dropped: int = Field(0, description="Oldest history steps left out entirely.")
    page_cut: bool = Field(False, description="The current page itself was shortened.")


class Decision(BaseModel):
    """One step's choice, with everything needed to train on it or to debug it."""

    rationale: str = ""
    action: str | None = Field(
        None, description="The env action in the env's grammar; None after a format error."
    )
    opera_action: dict[str, Any] | None = Field(
        None, description='OPeRA form ({"type": "click", "name": ID}, ...) when expressible.'
    )
    raw_output: str = Field("", description="What the model (or scripted policy) emitted.")
    format_error: str = Field("", description="Why raw_output could not be read as a decision.")
    format_ok: bool = Field(
        True, description='Shop-R1 format check: one JSON object with "rationale" and "action".'
    )
    prompt: list[dict[str, Any]] | None = Field(
        None, description="The chat messages sent to the model (None for scripted policies)."
    )
    usage: Usage | None = None
    context: ContextStats | None = None
    policy_ms: float = Field(0.0, description="Wall time of act().")
    model_ms: float | None = Field(
        None, description="Part of policy_ms spent waiting on the model."
    )


class Turn(BaseModel):
    """One earlier step of the episode, as a policy's history keeps it."""

    url: str = ""
    title: str = ""
    text: str = Field("", description="The page the decision was made on (compact text).")
    decision: Decision
    action_error: str = Field("", description="What the env said went wrong with the action.")

    @classmethod
    def of(cls, observation: Mapping[str, Any], decision: Decision, action_error: str) -> Turn:
        """The turn of ``decision``, made on ``observation``.

        The prompt is left out: a policy rebuilds its prompt from the turns, not from the
        prompts it sent, and a history would otherwise hold every page many times over.
        """
        return cls(
            url=str(observation.get("url", "")),
            title=str(observation.get("title", "")),
            text=str(observation.get("text", "")),
            decision=decision.model_copy(update={"prompt": None}),
            action_error=action_error,
        )


class Policy(Protocol):
    """Anything that picks actions: a model adapter, a scripted baseline, a reference replay."""

    name: str

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        """Decide the next action.

        Args:
            observation: the page as an env gives it (its keys: url, title, tabs, text, goal,
                last_action_error, screenshot bytes when taken).
            history: the episode's earlier turns (on a replay, the recorded shopper's).

        Returns:
            The decision: the action in the env's grammar (None after a format error), its
            OPeRA form, the rationale, the raw model output, usage and timings.
        """
        ...


def opera_form(action: Action) -> dict[str, Any] | None:
    """``action`` in OPeRA's three-action form, or None when OPeRA cannot express it."""
    if action.name == "click":
        return {"type": "click", "name": action.args["id"]}
    if action.name == "type" and action.args.get("submit"):
        return {"type": "type_and_submit", "name": action.args["id"], "text": action.args["text"]}
    if action.name == "select":
        # Typed into a drop-down, the text chooses the option (see actions.type_).
        return {"type": "type_and_submit", "name": action.args["id"], "text": action.args["option"]}
    if action.name == "stop":
        answer = action.args.get("answer", "")
        return {"type": "terminate", **({"answer": answer} if answer else {})}
    return None


def scripted_decision(rationale: str, action: str, started: float) -> Decision:
    """A decision of a policy without a model: ``raw_output`` is the JSON it stands for.

    ``action`` is in the env's grammar; it must parse, since a scripted policy writing a
    malformed action is a bug, not a format error.
    """
    parsed = parse(action)
    opera = opera_form(parsed)
    shown: str | dict[str, Any] = opera if opera is not None else str(parsed)
    raw_output = json.dumps({"rationale": rationale, "action": shown}, ensure_ascii=False)
    return Decision(
        rationale=rationale,
        action=str(parsed),
        opera_action=opera,
        raw_output=raw_output,
        policy_ms=round((time.perf_counter() - started) * 1000, 3),
    )
