"""One factory for every policy: the suite runner, rollouts and offline replay ask it by name."""

from __future__ import annotations

from typing import Literal

from webserv.policy.base import Policy
from webserv.policy.persona import BUILTIN, Persona
from webserv.policy.prompt import PromptConfig
from webserv.policy.random_shopper import RandomShopper
from webserv.policy.reference import ReferencePolicy
from webserv.policy.scripted import ScriptedShopper
from webserv.policy.vlm import ChatModel, VLMShopper
from webserv.tasks.config import TaskConfig

#: The shoppers, policies that need no task's solution: they drive rollouts and replay steps.
ShopperKind = Literal["vlm", "scripted", "random"]


def make_policy(
    kind: str,
    *,
    seed: int = 0,
    task: TaskConfig | None = None,
    persona: Persona | None = None,
    model: ChatModel | None = None,
    prompt: PromptConfig | None = None,
) -> Policy:
    """A fresh policy of ``kind`` for one episode.

    ``reference`` replays ``task``'s solution (pass the task with its URLs resolved);
    ``random`` acts at random from ``seed``; ``scripted`` plays ``persona``, or a built-in
    persona chosen by ``seed``; ``vlm`` asks ``model`` with ``prompt``, as ``persona``.
    """
    if kind == "reference":
        if task is None:
            raise ValueError("the reference policy needs a task")
        return ReferencePolicy(task)
    if kind == "random":
        return RandomShopper(seed)
    if kind == "scripted":
        return ScriptedShopper(persona or BUILTIN[seed % len(BUILTIN)], seed)
    if kind == "vlm":
        if model is None:
            raise ValueError("the vlm policy needs a model endpoint")
        return VLMShopper(model, prompt, persona)
    raise ValueError(f"unknown policy {kind!r}; use reference, random, scripted or vlm")
