"""The random baseline through the policy protocol: the floor every shopper must beat.

It is the suite's :class:`~webserv.tasks.policies.RandomPolicy` (uniform clicks, typing,
scrolls and stops over the elements in view), wrapped so its steps are recorded like any
other policy's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from webserv.policy.base import Decision, Turn, scripted_decision
from webserv.tasks.policies import RandomPolicy


class RandomShopper:
    """Uniformly random actions over the elements of the current page."""

    name = "random"

    def __init__(self, seed: int = 0, stop_probability: float = 0.1) -> None:
        self._policy = RandomPolicy(seed, stop_probability)

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        started = time.perf_counter()
        return scripted_decision("", self._policy.act(observation), started)
