"""A shopper policy backed by any OpenAI-compatible chat endpoint (vLLM, SGLang, a hosted API).

:class:`ChatModel` is one ``openai.AsyncOpenAI`` client, shared by every episode of a run;
:class:`VLMShopper` is one episode's policy: it builds the prompt (:mod:`.prompt`), asks the
model, and reads the reply (:mod:`.parse`). A reply that cannot be read is a decision with a
``format_error``; an endpoint that fails after the client's retries raises
:class:`ModelError`, which ends the episode, not the run.

Point it at a vLLM server started with, e.g.,
``vllm serve Qwen/Qwen2.5-VL-3B-Instruct --port 8000 --max-model-len 32768``
as ``ModelConfig(endpoint="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-VL-3B-Instruct")``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from openai import APIError, AsyncOpenAI
from pydantic import BaseModel, Field

from webserv.policy.base import Decision, Turn, Usage
from webserv.policy.parse import parse_output
from webserv.policy.persona import Persona
from webserv.policy.prompt import PromptConfig, build_prompt


class ModelError(RuntimeError):
    """The chat endpoint failed (unreachable, 4xx/5xx after retries)."""


class ModelConfig(BaseModel):
    """Where the model is served and how it samples."""

    endpoint: str = Field(description="Base URL of the OpenAI-compatible API, ending in /v1.")
    model: str = Field(description="Model name as the server knows it.")
    api_key: str = Field("EMPTY", description="Bearer token; vLLM accepts any without --api-key.")
    temperature: float = Field(0.6, ge=0, description="Shop-R1 samples at 0.6.")
    max_tokens: int = Field(512, ge=16, description="Most tokens in one reply.")
    json_mode: bool = Field(
        False, description='Ask for response_format {"type": "json_object"} (vLLM supports it).'
    )
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0)


class ChatModel:
    """One client of a chat endpoint, shared by concurrent episodes."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.client = AsyncOpenAI(
            base_url=config.endpoint,
            api_key=config.api_key,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )

    async def complete(self, messages: list[dict[str, Any]]) -> tuple[str, Usage]:
        """The reply text and the token usage the endpoint reported."""
        extra: dict[str, Any] = {}
        if self.config.json_mode:
            extra["response_format"] = {"type": "json_object"}
        try:
            completion = await self.client.chat.completions.create(
                model=self.config.model,
                messages=messages,  # type: ignore[arg-type]  # chat dicts; openai wants TypedDicts
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                **extra,
            )
        except APIError as err:
            raise ModelError(f"chat endpoint {self.config.endpoint} failed: {err}") from err
        text = ""
        if completion.choices:
            text = completion.choices[0].message.content or ""
        usage = Usage()
        if completion.usage is not None:
            usage = Usage(
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                total_tokens=completion.usage.total_tokens,
            )
        return text, usage

    async def close(self) -> None:
        await self.client.close()


class VLMShopper:
    """One episode's model-driven shopper: prompt, ask, parse."""

    name = "vlm"

    def __init__(
        self, model: ChatModel, prompt: PromptConfig | None = None, persona: Persona | None = None
    ) -> None:
        self.model = model
        self.prompt = prompt or PromptConfig()
        self.persona = persona

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        started = time.perf_counter()
        prompt = build_prompt(observation, history, self.prompt, self.persona)
        asked = time.perf_counter()
        text, usage = await self.model.complete(prompt.messages)
        model_ms = round((time.perf_counter() - asked) * 1000, 3)
        parsed = parse_output(text, self.prompt.mode)
        return Decision(
            rationale=parsed.rationale,
            action=str(parsed.action) if parsed.action is not None else None,
            opera_action=parsed.opera_action,
            raw_output=text,
            format_error=parsed.error,
            format_ok=parsed.format_ok,
            prompt=prompt.messages,
            usage=usage,
            context=prompt.stats,
            model_ms=model_ms,
            policy_ms=round((time.perf_counter() - started) * 1000, 3),
        )
