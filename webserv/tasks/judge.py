"""A fuzzy_match judge on any OpenAI-compatible chat endpoint (vLLM, SGLang, a hosted API).

WebArena grades ``fuzzy_match`` answers by asking an LLM whether the agent's answer means the
same as the reference. :class:`ChatJudge` does the same through the ``openai`` client: one
short, deterministic (temperature 0) question per reference, answered with one verdict word.
Only an unqualified "correct" passes; "partially correct" and "incorrect" fail. A reply that
is none of these, or an endpoint that cannot be reached, raises :class:`JudgeError`, which the
evaluator reports as "not evaluable" rather than guessing.
"""

from __future__ import annotations

import re

from openai import APIError, AsyncOpenAI

from webserv.tasks.evaluators import JudgeError

SYSTEM_PROMPT = (
    "You grade a web agent's answer to a question about a web site against a reference answer."
)

QUESTION = """Question: {intent}
Reference answer: {reference}
Agent's answer: {answer}

"N/A" as the reference means the task cannot be done on the site; an answer that says so
means the same. Different wording, formatting, units written out or extra polite words do
not matter. A missing, wrong or additional fact does.
Reply with exactly one of: correct, partially correct, incorrect."""

REASON_QUESTION = """Question: {intent}
The task cannot be done on the site, because: {reason}
Agent's answer: {answer}

Does the agent's answer say the task cannot be done, for the same reason?
Reply with exactly one of: same, different."""

_VERDICT = re.compile(r"\b(partially correct|incorrect|correct)\b")
_REASON_VERDICT = re.compile(r"\b(same|different)\b")


class ChatJudge:
    """Asks a chat model whether an answer means the same as the reference."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.client = AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries
        )

    async def same_meaning(self, intent: str, answer: str, reference: str) -> bool:
        prompt = QUESTION.format(intent=intent, reference=reference, answer=answer)
        return await self._verdict(prompt, _VERDICT) == "correct"

    async def same_reason(self, intent: str, answer: str, reason: str) -> bool:
        """WebArena's ``ua_match``: an "N/A" task answered with a reason instead."""
        prompt = REASON_QUESTION.format(intent=intent, reason=reason, answer=answer)
        return await self._verdict(prompt, _REASON_VERDICT) == "same"

    async def _verdict(self, prompt: str, verdicts: re.Pattern[str]) -> str:
        try:
            completion = await self.client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": prompt},
                ],
                temperature=0,
                max_tokens=16,
            )
        except APIError as err:
            raise JudgeError(f"judge endpoint failed: {err}") from err
        reply = (completion.choices[0].message.content or "") if completion.choices else ""
        verdict = verdicts.search(reply.lower())
        if verdict is None:
            raise JudgeError(f"judge gave no verdict: {reply[:200]!r}")
        return verdict.group(1)

    async def close(self) -> None:
        await self.client.close()
