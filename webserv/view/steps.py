"""A recorded step as the timeline shows it: its screenshot, its observation text with the
acted-on element marked, and its action in a line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webserv.rollout.records import StepRecord
from webserv.view.highlight import Segment, element_text, segments
from webserv.view.library import Library


@dataclass(frozen=True)
class StepView:
    """One step of a timeline."""

    record: StepRecord
    image: str | None  # the screenshot's path under the root; None: none readable
    text: list[Segment]  # the observation text, the acted-on (and predicted) element marked
    element: str | None  # what the text shows of the acted-on element
    action: str  # the action in a line


def action_label(action: dict[str, Any] | None, fallback: str | None = None) -> str:
    """An OPeRA action in a line (``click [12]``, ``type_and_submit [5] "usb"``); else
    ``fallback`` (the grammar action), else ``no action``."""
    if not action:
        return fallback or "no action"
    parts = [str(action.get("type", "?"))]
    if action.get("name"):
        parts.append(f"[{action['name']}]")
    if action.get("text") is not None:
        parts.append(f'"{action["text"]}"')
    return " ".join(parts)


def step_view(
    record: StepRecord, directory: Path, library: Library, predicted: str | None = None
) -> StepView:
    """The view of ``record`` (of the run in ``directory``); ``predicted``: an element id a
    prediction named, marked beside the acted-on one."""
    text = record.observation_text
    return StepView(
        record=record,
        image=library.image_path(directory, record.image),
        text=segments(text, {"acted": record.semantic_id, "predicted": predicted}),
        element=element_text(text, record.semantic_id),
        action=action_label(record.action, record.env_action),
    )
