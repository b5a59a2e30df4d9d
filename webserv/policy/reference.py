"""The reference policy: replays a task's ``reference_solution``, the oracle a suite must pass.

A reference solution is a list of actions in the action grammar. Where an action names an
element, it may name it by what the observation shows instead of by id: ``'button "Save"'``
stands for the id of the line ``[N] button "Save"`` of the current observation, so solutions
survive changes of the page that renumber its elements. :class:`ReferencePolicy` resolves
those names against each observation, unfolding folded navigation and scrolling to look for
them; a name it cannot find is sent as is, and the action fails visibly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from webserv.browser.actions import Action, ActionError, parse
from webserv.policy.base import ELEMENT_ID, Decision, Turn, scripted_decision
from webserv.tasks.config import TaskConfig

_ID = re.compile(r"^\d+(\.\d+)*$")
#: Lines of an observation that say more of the page is reachable by scrolling.
_MORE_BELOW = ("scroll for more", "scroll to see it")
#: A navigation folded to fit the token budget, which a click unfolds.
_FOLDED = re.compile(r"^\[([\d.]+)\] navigation .* collapsed \(\d+ links\)(?::.*)?$", re.M)
MAX_SCROLLS = 6


def find_element(text: str, ref: str) -> str | None:
    """The id of the first element line of ``text`` that reads ``[id] <ref>``."""
    for line in text.splitlines():
        for match in ELEMENT_ID.finditer(line):
            rest = line[match.end() :]
            if rest == ref or rest.startswith(ref + " "):
                return match.group(1)
    return None


class ReferencePolicy:
    """Replays a task's ``reference_solution``, resolving element names to ids."""

    name = "reference"

    def __init__(self, task: TaskConfig) -> None:
        if not task.reference_solution:
            raise ValueError(f"task {task.task_id} has no reference_solution")
        self._actions = list(task.reference_solution)
        self._next = 0
        self._scrolls = 0
        self._unfolded: set[str] = set()

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        started = time.perf_counter()
        if self._next >= len(self._actions):
            return scripted_decision("", "stop()", started)
        text = str(observation.get("text", ""))
        raw = self._actions[self._next]
        try:
            action = parse(raw)
        except ActionError as err:
            self._next += 1
            # No action, but the solution's text as written: the suite runner sends it on and
            # the env reports the parse error, as it would a model's.
            return Decision(
                raw_output=raw,
                format_error=str(err),
                format_ok=False,
                policy_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        ref = action.args.get("id")
        if isinstance(ref, str) and not _ID.match(ref):
            found = find_element(text, ref)
            if found is None:
                folded = [m for m in _FOLDED.findall(text) if m not in self._unfolded]
                if folded:
                    self._unfolded.add(folded[0])
                    return scripted_decision("", f'click("{folded[0]}")', started)
                if self._scrolls < MAX_SCROLLS and any(m in text for m in _MORE_BELOW):
                    self._scrolls += 1
                    return scripted_decision("", 'scroll("down")', started)
                self._next += 1
                return scripted_decision("", raw, started)
            action = Action(action.name, {**action.args, "id": found})
        self._next += 1
        self._scrolls = 0
        self._unfolded.clear()
        return scripted_decision("", str(action), started)
