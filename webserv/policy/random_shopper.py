"""The random baseline: the floor every suite and every shopper must beat.

Uniform clicks, typing, scrolls and stops over the elements in view, reproducible from a seed.
On webserv's pages the elements are the ``[12]`` ids of the compact text; on an OPeRA page
(simplified HTML, see :mod:`.opera_page`) they are its named elements, and the action names
one by its semantic id (``click("nav_bar.cart_button")``, in OPeRA form
``{"type": "click", "name": "nav_bar.cart_button"}``).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from webserv.policy.base import ELEMENT_ID, Decision, Turn, scripted_decision
from webserv.policy.opera_page import OperaPage, read_page


class RandomShopper:
    """Uniformly random actions over the elements of the current page."""

    name = "random"
    WORDS = ("yes", "no", "42", "$10.00", "blue", "order", "test", "shop")
    #: On an OPeRA page, the share of typing among the actions on elements: that of webserv
    #: pages (20% typing to 60% clicks), where scrolls and back fill the rest.
    OPERA_TYPE_SHARE = 0.25

    def __init__(self, seed: int = 0, stop_probability: float = 0.1) -> None:
        self._rng = random.Random(seed)
        self.stop_probability = stop_probability

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        started = time.perf_counter()
        text = str(observation.get("text", ""))
        page = read_page(text)
        action = self._action(text) if page is None else self._opera_action(page)
        return scripted_decision("", action, started)

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

    def _opera_action(self, page: OperaPage) -> str:
        """A stop, a click or typing on an OPeRA page: the three actions OPeRA records.

        A stop carries no answer (OPeRA's terminate has none); text is typed only into text
        fields, and every other named element is clicked.
        """
        rng = self._rng
        if rng.random() < self.stop_probability:
            return "stop()"
        clickable, typeable = page.clickable(), page.typeable()
        if typeable and (not clickable or rng.random() < self.OPERA_TYPE_SHARE):
            words = " ".join(rng.choices(self.WORDS, k=2))
            field = rng.choice(typeable).name
            return f"type({json.dumps(field)}, {json.dumps(words)}, submit=True)"
        return f"click({json.dumps(rng.choice(clickable).name)})"
