"""Policies that drive a suite without a model: the reference oracle and a random baseline.

A reference solution is a list of actions in the action grammar. Where an action names an
element, it may name it by what the observation shows instead of by id: ``'button "Save"'``
stands for the id of the line ``[N] button "Save"`` of the current observation, so solutions
survive changes of the page that renumber its elements. :class:`ReferencePolicy` resolves
those names against each observation; a name it cannot find is sent as is, and the action
fails visibly.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from typing import Any, Protocol

from webserv.browser.actions import Action, ActionError, parse
from webserv.tasks.config import TaskConfig

_ID = re.compile(r"^\d+(\.\d+)*$")
_ELEMENT = re.compile(r"\[(\d+(?:\.\d+)*)\] ")
#: Lines of an observation that say more of the page is reachable by scrolling.
_MORE_BELOW = ("scroll for more", "scroll to see it")
MAX_SCROLLS = 6


class Policy(Protocol):
    """Chooses the next action from an observation (a dict with at least ``text``)."""

    def act(self, observation: Mapping[str, Any]) -> str: ...


def find_element(text: str, ref: str) -> str | None:
    """The id of the first element line of ``text`` that reads ``[id] <ref>``."""
    for line in text.splitlines():
        for match in _ELEMENT.finditer(line):
            rest = line[match.end() :]
            if rest == ref or rest.startswith(ref + " "):
                return match.group(1)
    return None


class ReferencePolicy:
    """Replays a task's ``reference_solution``, resolving element names to ids."""

    def __init__(self, task: TaskConfig) -> None:
        if not task.reference_solution:
            raise ValueError(f"task {task.task_id} has no reference_solution")
        self._actions = list(task.reference_solution)
        self._next = 0
        self._scrolls = 0

    def act(self, observation: Mapping[str, Any]) -> str:
        if self._next >= len(self._actions):
            return "stop()"
        text = str(observation.get("text", ""))
        raw = self._actions[self._next]
        try:
            action = parse(raw)
        except ActionError:
            self._next += 1
            return raw  # the env reports the parse error
        ref = action.args.get("id")
        if isinstance(ref, str) and not _ID.match(ref):
            found = find_element(text, ref)
            if found is None:
                if self._scrolls < MAX_SCROLLS and any(m in text for m in _MORE_BELOW):
                    self._scrolls += 1
                    return 'scroll("down")'
                self._next += 1
                return raw
            action = Action(action.name, {**action.args, "id": found})
        self._next += 1
        self._scrolls = 0
        return str(action)


class RandomPolicy:
    """Uniformly random actions over the elements in view: the floor a suite must beat."""

    WORDS = ("yes", "no", "42", "$10.00", "blue", "order", "test", "shop")

    def __init__(self, seed: int, stop_probability: float = 0.1) -> None:
        self._rng = random.Random(seed)
        self.stop_probability = stop_probability

    def act(self, observation: Mapping[str, Any]) -> str:
        rng = self._rng
        ids = _ELEMENT.findall(str(observation.get("text", "")))
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


def make_policy(kind: str, task: TaskConfig, seed: int = 0) -> Policy:
    """``reference`` or ``random`` for ``task``."""
    if kind == "reference":
        return ReferencePolicy(task)
    if kind == "random":
        return RandomPolicy(seed)
    raise ValueError(f"unknown policy {kind!r}; use reference or random")
