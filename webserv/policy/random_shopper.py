"""The random baseline: the floor every suite and every shopper must beat.

Uniform clicks, typing, scrolls and stops over the elements in view, reproducible from a seed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from webserv.policy.base import ELEMENT_ID, Decision, Turn, scripted_decision


class RandomShopper:
    """Uniformly random actions over the elements of the current page."""

    name = "random"
    WORDS = ("yes", "no", "42", "$10.00", "blue", "order", "test", "shop")

    def __init__(self, seed: int = 0, stop_probability: float = 0.1) -> None:
        self._rng = random.Random(seed)
        self.stop_probability = stop_probability

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        started = time.perf_counter()
        return scripted_decision("", self._action(str(observation.get("text", ""))), started)

    def _action(self, text: str) -> str:
        rng = self._rng
        ids = ELEMENT_ID.findall(text)
        if rng.random() < self.stop_probability:
            return f"stop({json.dumps(rng.choice(self.WORDS))})"
        choice = rng.random()
        if ids and choice < 0.6:
            return f"click({json.dumps(rng.choice(ids))})"
        if ids and choice < 0.8:
            words = " ".join(rng.choices(self.WORDS, k=2))
            return f"type({json.dumps(rng.choice(ids))}, {json.dumps(words)}, submit=True)"
        if choice < 0.9:
            return f"scroll({json.dumps(rng.choice(['up', 'down']))})"
        return "back()"
