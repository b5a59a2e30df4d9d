"""Shopper policies behind one async protocol: ``act(observation, history) -> Decision``.

``base`` defines the protocol and the decision record; ``vlm`` the adapter for any
OpenAI-compatible chat endpoint, with ``prompt`` (persona, intent, history with rationales,
recent pages, screenshot, token budget) and ``parse`` (reading the model's JSON); ``scripted``
and ``random_shopper`` the baselines; ``persona`` the shoppers they play.
"""

from webserv.policy.base import Decision, Policy, Turn
from webserv.policy.persona import Persona
from webserv.policy.random_shopper import RandomShopper
from webserv.policy.scripted import ScriptedShopper
from webserv.policy.vlm import ChatModel, ModelConfig, VLMShopper

__all__ = [
    "ChatModel",
    "Decision",
    "ModelConfig",
    "Persona",
    "Policy",
    "RandomShopper",
    "ScriptedShopper",
    "Turn",
    "VLMShopper",
]
