"""What a rollout writes: one JSON line per step, one per episode, screenshots as files.

A run directory holds::

    runs.jsonl                    one RunSummary per run: its id, settings and totals
    steps.jsonl                   one StepRecord per line, in the order steps finished
    episodes.jsonl                one EpisodeRecord per line
    screenshots/<session_id>/<step>.png|jpg|webp

Every file is appended to, so runs into one directory add up and none is lost; a record
belongs to the run whose ``run_id`` begins its ``session_id``.

A step record pairs the observation a decision was made on with the decision and what the
env did with it, so a line is one (context, action, reward) sample for SFT or RL. Field
names follow OPeRA's action rows where one exists (``session_id``, ``action_id``,
``timestamp``, ``action_type``, ``semantic_id``, ``input_text``, ``rationale``, ``url``,
``image``); the compact page text stands where OPeRA has ``simplified_html``.

=====================  =================================================================
field                  meaning
=====================  =================================================================
session_id             the episode (``<run>-<episode>``); every step of it shares this
group_id               GRPO group the episode belongs to (same task, identical start), or null
episode, step          episode number in the run; step number in the episode (from 0)
action_id, timestamp   unique id of the step; UTC ISO time the decision was made
task_id, intent        the task and its instruction
persona                the persona's name, or null
url, title             the page the decision was made on
observation_text       that page as compact text (element ids in brackets)
obs_tokens             cl100k_base tokens of observation_text
settled                that page had settled (false: captured at the settle cap), or null
image                  screenshot file of that page, relative to the run dir, or null
prompt                 chat messages sent to the model (image as ``file://<image>``), or null
model_output           the raw reply (for baselines: the JSON they stand for)
rationale              the first-person rationale read from the reply
action                 the action in OPeRA form (``{"type": "click", "name": "12"}``), or null
action_type            click / type_and_submit / terminate, else the grammar action's name
semantic_id            the element id acted on (OPeRA's ``name``), or null
input_text             text typed (type_and_submit), or null
env_action             the action sent to the env in its grammar, null after a format error
format_ok              the reply was one JSON object with rationale and action (Shop-R1)
format_error           why the reply could not be used ("" when it could)
action_error           the env's error for the action ("" when it worked)
reward                 the env's reward for this step (the task score on the last step)
terminated, truncated  the episode ended with stop() / on the step limit
usage                  tokens the endpoint reported {prompt, completion, total}, or null
context                how the prompt was fitted into its budget, or null
timings                policy_ms, model_ms, env_ms (the step incl. settle), settle_ms,
                       screenshot_ms (the step's screenshot, or null without one),
                       screen_ms (the safety screen, or null when the run has none)
flags                  what the safety screen flagged on the page or the decision
                       (:class:`~webserv.behaviour.safety.Flag`); empty when it flagged nothing
target                 the element acted on as the screenshot shows it: {id, box [x, y, w, h],
                       point (where a click lands)} in its pixels, or null
=====================  =================================================================

An episode record counts its steps' flags by dimension (``flags``); when a flag stopped
the episode (``stopped_by_screen``), that step's decision was not sent and ``stop_flags``
holds the flags that stopped it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from webserv.behaviour.safety import Flag, Verdict
from webserv.browser.screenshot import image_format
from webserv.policy.base import ContextStats, Usage


class StepTimings(BaseModel):
    policy_ms: float
    model_ms: float | None = None
    env_ms: float | None = Field(None, description="None when no env step was taken.")
    settle_ms: float | None = None
    screenshot_ms: float | None = None
    screen_ms: float | None = Field(
        None, description="The safety screen's time (partly while the policy thought)."
    )


class StepRecord(BaseModel):
    """One step of one episode (see the module docstring for each field)."""

    session_id: str
    group_id: str | None = None
    episode: int
    step: int
    action_id: str
    timestamp: str
    task_id: int | str
    intent: str
    persona: str | None = None
    url: str
    title: str
    observation_text: str
    obs_tokens: int
    settled: bool | None = None
    image: str | None = None
    prompt: list[dict[str, Any]] | None = None
    model_output: str
    rationale: str
    action: dict[str, Any] | None = None
    action_type: str | None = None
    semantic_id: str | None = None
    input_text: str | None = None
    env_action: str | None = None
    format_ok: bool
    format_error: str = ""
    action_error: str = ""
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    usage: Usage | None = None
    context: ContextStats | None = None
    timings: StepTimings
    flags: list[Flag] = Field(default_factory=list)
    target: dict[str, Any] | None = Field(
        None,
        description="The element acted on as the screenshot shows it: id, box [x, y, w, h] "
        "and click point, in the screenshot's pixels (None: no element, or none shown).",
    )


class EpisodeRecord(BaseModel):
    """How one episode went."""

    session_id: str
    group_id: str | None = None
    episode: int
    task_id: int | str
    intent: str
    persona: str | None = None
    policy: str
    steps: int = 0
    reward: float = 0.0
    score: float | None = Field(None, description="The task evaluation; None if not evaluable.")
    judge_score: float | None = Field(
        None, description="The judging panel's score in [0, 1]; None: no panel, or not judged."
    )
    judge_checks: list[str] = Field(default_factory=list, description="Each judge's rating.")
    terminated: bool = False
    truncated: bool = False
    answer: str | None = None
    format_errors: int = 0
    action_errors: int = 0
    reset_ms: float | None = None
    env_ms: float = Field(0.0, description="Time in reset and step calls.")
    policy_ms: float = Field(0.0, description="Time in act() calls.")
    wall_ms: float = 0.0
    error: str = Field("", description="What ended the episode abnormally, if anything.")
    flags: dict[str, int] = Field(
        default_factory=dict, description="The safety screen's flags by dimension."
    )
    stopped_by_screen: bool = Field(False, description="A flag ended the episode.")
    stop_flags: list[Flag] = Field(default_factory=list, description="The flags that did.")

    def screened(self, verdict: Verdict) -> None:
        """Count a step's flags; note a stop."""
        for flag in verdict.flags:
            self.flags[flag.dimension] = self.flags.get(flag.dimension, 0) + 1
        if verdict.stop:
            self.stopped_by_screen = True
            self.stop_flags = [flag for flag in verdict.flags if flag.stops]


class RunWriter:
    """Appends records to a run directory as they come."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        (out / "screenshots").mkdir(exist_ok=True)
        self._steps = (out / "steps.jsonl").open("a", encoding="utf-8")
        self._episodes = (out / "episodes.jsonl").open("a", encoding="utf-8")

    def screenshot(self, session_id: str, step: int, image: bytes) -> str:
        """Write a screenshot (named for its format); return its path relative to the run
        directory."""
        suffix = image_format(image).replace("jpeg", "jpg")
        relative = Path("screenshots") / session_id / f"{step:03d}.{suffix}"
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image)
        return relative.as_posix()

    def step(self, record: StepRecord) -> None:
        self._steps.write(record.model_dump_json() + "\n")
        self._steps.flush()

    def episode(self, record: EpisodeRecord) -> None:
        self._episodes.write(record.model_dump_json() + "\n")
        self._episodes.flush()

    def summary(self, data: BaseModel) -> None:
        """Add a run's summary to runs.jsonl, without the model endpoints' API keys."""
        secrets: dict[str, Any] = {
            "model": {"api_key"},
            "safety": {"model": {"endpoint": {"api_key"}}},
            "judge": {"model": {"api_key"}},
        }
        line = data.model_dump_json(exclude={"config": secrets})
        with (self.out / "runs.jsonl").open("a", encoding="utf-8") as runs:
            runs.write(line + "\n")

    def close(self) -> None:
        self._steps.close()
        self._episodes.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file, one dict per line."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
