"""Shopper policies behind one async protocol: ``act(observation, history) -> Decision``.

``base`` defines the protocol and the decision record; ``factory`` makes any policy by name;
``vlm`` the adapter for any OpenAI-compatible chat endpoint, with ``prompt`` (persona, intent,
history with rationales, recent pages, screenshot, token budget) and ``parse`` (reading the
model's JSON); ``scripted`` and ``random_shopper`` the baselines; ``reference`` the oracle
that replays a task's solution; ``persona`` the shoppers they play.
"""

from webserv.policy.base import Decision, Policy, Turn
from webserv.policy.factory import make_policy
from webserv.policy.persona import Persona
from webserv.policy.random_shopper import RandomShopper
from webserv.policy.reference import ReferencePolicy
from webserv.policy.scripted import ScriptedShopper
from webserv.policy.vlm import ChatModel, ModelConfig, VLMShopper

__all__ = [
    "ChatModel",
    "Decision",
    "ModelConfig",
    "Persona",
    "Policy",
    "RandomShopper",
    "ReferencePolicy",
    "ScriptedShopper",
    "Turn",
    "VLMShopper",
    "make_policy",
]
