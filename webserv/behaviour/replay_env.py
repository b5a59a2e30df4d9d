"""Recorded sessions as an environment: next-action prediction, one episode per session.

A :class:`ReplaySource` serves the sessions of a ``steps.jsonl`` (an OPeRA import, or any
rollout of webserv's own) as tasks, one per session. An episode shows the recorded pages in
order: the first observation is the session's first page (its text: OPeRA's simplified
HTML or webserv's compact page; its screenshot when one was recorded and screenshots are
on), and every ``step`` scores the action given against the one the shopper took there,
then moves on to the page the shopper saw next, whatever was predicted. The episode
terminates after the session's last recorded step.

``step`` takes the policy's reply, as a GRPO trainer has it: a reply in Shop-R1's format
(``{"rationale": ..., "action": {...}}``) earns the chosen reward (Shop-R1's or
Customer-R1's, :mod:`.rewards`) in full, format term included. An action alone (an OPeRA
action object, or the env grammar such as ``click("nav_bar.cart")``) earns the action terms
only; text that is neither earns nothing and ``last_action_error`` says why. A recorded step
outside OPeRA's three action types (a scroll, a back) is shown but not scored (reward 0,
``info["scored"]`` false).

The recorded decision of each step (its rationale and action) comes back in
``info["recorded"]``, in the form of a policy's history turn: a policy conditioned on the
session so far appends it to its history in place of its own decision, so every prompt
holds the real shopper's history, as in :func:`.replay.evaluate`. The rollout runner does
so (``info["replay"]`` at reset tells it the env scores replies).

The same source is served three ways: :class:`ReplayEnv` (Gymnasium, ``webserv/Replay-v0``),
:class:`ReplayFleet` (``webserv rollout --replay``) and the HTTP server (``webserv serve
--replay``), each over one :class:`ReplayEpisode`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from webserv.behaviour.replay import (
    gold_action,
    load_steps,
    load_surveys,
    recorded_persona,
    recorded_turn,
    sessions,
)
from webserv.behaviour.rewards import (
    AnyRewardBreakdown,
    AnyRewardConfig,
    RewardConfig,
    RewardScheme,
    RuleSet,
    exact_match,
    reply_reward,
    reward_config,
)
from webserv.browser.actions import ActionError, parse
from webserv.browser.observation import Observation, Tab
from webserv.env.session import EpisodeOver, StepResult
from webserv.env.spaces import action_space, image, observation_space, to_gym
from webserv.policy.base import opera_form
from webserv.policy.parse import parse_output, shop_r1_object
from webserv.pool.manager import Lease
from webserv.rollout.envs import RolloutEnv, SessionEnv
from webserv.rollout.records import StepRecord
from webserv.tasks.config import EvalSpec, TaskConfig
from webserv.tasks.suite import Suite, SuiteManifest

#: The site name a replay source answers to unless given another.
DEFAULT_NAME = "replay"
#: The screenshot size of :class:`ReplayEnv`'s observation space (recordings vary in size).
SCREEN = (720, 1280)


class ReplaySource:
    """The recorded sessions of one ``steps.jsonl``, each a task of the source's suite.

    Args:
        steps: a ``steps.jsonl`` file, or the run directory holding one.
        name: the site name the source is served under (``replay`` by default).
        reward: the reward of a step (Shop-R1's unless a Customer-R1 config is given).
        rules: the exact-match rule set of ``info["exact"]`` and the episode's score.

    Raises:
        ReplayError: the file is missing or holds no step records.
    """

    def __init__(
        self,
        steps: Path,
        name: str = DEFAULT_NAME,
        reward: AnyRewardConfig | None = None,
        rules: RuleSet = "opera",
    ) -> None:
        path = Path(steps)
        self.path = path / "steps.jsonl" if path.is_dir() else path
        self.run_dir = self.path.parent
        self.name = name
        self.reward = reward or RewardConfig()
        self.rules = rules
        self.sessions = sessions(load_steps(self.path))
        self.surveys = load_surveys(self.run_dir)
        self.suite = Suite(
            manifest=SuiteManifest(
                name=name,
                description=f"{len(self.sessions)} recorded sessions of {self.path}",
                sites=[name],
            ),
            tasks=[self._task(sid, rows) for sid, rows in self.sessions.items()],
        )

    def _task(self, session_id: str, rows: list[StepRecord]) -> TaskConfig:
        first = rows[0]
        shopper = recorded_persona(first.persona, self.surveys)
        return TaskConfig(
            task_id=session_id,
            sites=[self.name],
            start_url=first.url,
            intent=first.intent,
            eval=EvalSpec(eval_types=[]),
            persona=first.persona,
            # The recorded shopper as a persona (a survey, a built-in persona), for the policy.
            shopper=shopper.model_dump() if shopper else None,
            recorded_steps=len(rows),
        )

    def steps_of(self, task: TaskConfig) -> list[StepRecord]:
        """The recorded steps of ``task``'s session; KeyError when it is not this source's."""
        rows = self.sessions.get(str(task.task_id))
        if rows is None:
            raise KeyError(f"{self.name} has no recorded session {task.task_id!r}")
        return rows

    def session(self, max_steps: int = 1_000, screenshot: bool = False) -> ReplaySession:
        """A new env over this source, with the async face the server and the runner use."""
        return ReplaySession(ReplayEpisode(self, max_steps, screenshot))

    def screenshot(self, step: StepRecord) -> bytes | None:
        """The step's recorded screenshot, if one was recorded and its file is there."""
        if not step.image:
            return None
        path = (self.run_dir / step.image).resolve()
        if not path.is_relative_to(self.run_dir.resolve()) or not path.is_file():
            return None
        return path.read_bytes()


def _canonical_reply(action: dict[str, Any]) -> str:
    return json.dumps({"rationale": "", "action": action}, ensure_ascii=False)


def read_action(action: str | dict[str, Any]) -> tuple[str, bool, str]:
    """What ``step`` was given, as ``(reply to score, is a whole reply, error)``.

    A reply in Shop-R1's format is scored as it is; an action alone (an OPeRA object, or
    the env grammar) is scored as the reply holding just that action, and only its action
    terms count; anything else is returned as given, with the reason it cannot be read.
    """
    text = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)
    if shop_r1_object(text) is not None:
        return text, True, ""
    parsed = parse_output(text, "opera")
    if parsed.opera_action is not None:
        return _canonical_reply(parsed.opera_action), False, ""
    if isinstance(action, str) and not action.lstrip().startswith("{"):
        try:
            opera = opera_form(parse(action))
        except ActionError as err:
            return text, False, f"not an action: {err}"
        if opera is None:
            return text, False, f"{action} is not one of OPeRA's click, type_and_submit, terminate"
        return _canonical_reply(opera), False, ""
    return text, False, parsed.error or "not an action"


class ReplayEpisode:
    """The sync core of one replay env: which session, which step, what each step scored."""

    def __init__(self, source: ReplaySource, max_steps: int = 1_000, screenshot: bool = False):
        self.source = source
        self.max_steps = max_steps
        self.screenshot = screenshot
        self.task: TaskConfig | None = None
        self.steps = 0
        self.done = True
        self.exact: list[bool] = []
        self._rows: list[StepRecord] = []
        self._last = ("", "")

    def reset(self, task: TaskConfig) -> tuple[Observation, dict[str, Any]]:
        """Start the session of ``task`` at its first recorded page."""
        self._rows = self.source.steps_of(task)
        self.task, self.steps, self.done, self.exact = task, 0, False, []
        self._last = ("", "")
        first = self._rows[0]
        info = {
            "task_id": task.task_id,
            "intent": task.intent,
            "instance_url": None,
            "lease": None,
            "replay": {
                "source": self.source.name,
                "session_id": first.session_id,
                "persona": first.persona,
                "recorded_steps": len(self._rows),
                "reward": self.source.reward.scheme,
                "rules": self.source.rules,
            },
            "settled": True,
        }
        return self.observe(), info

    def observe(self, screenshot: bool | None = None) -> Observation:
        """The recorded page of the current step."""
        if self.task is None:
            raise EpisodeOver("no episode is running; call reset() first")
        row = self._rows[min(self.steps, len(self._rows) - 1)]
        shot = self.screenshot if screenshot is None else screenshot
        return Observation(
            url=row.url,
            title=row.title,
            tabs=[Tab(index=0, url=row.url, title=row.title, active=True)],
            text=row.observation_text,
            screenshot=self.source.screenshot(row) if shot else None,
            last_action=self._last[0],
            last_action_error=self._last[1],
            goal=row.intent,
            token_count=row.obs_tokens,
            settle_ms=0.0,
            settled=True,
            truncated=False,
        )

    def step(self, action: str | dict[str, Any]) -> StepResult:
        """Score ``action`` against the recorded one, then show the next recorded page."""
        if self.done or self.task is None:
            raise EpisodeOver("no episode is running; call reset() first")
        recorded = self._rows[self.steps]
        reply, whole, error = read_action(action)
        gold = gold_action(recorded)
        info: dict[str, Any] = {
            "task_id": self.task.task_id,
            "step": self.steps + 1,
            "scored": gold is not None,
            "recorded": recorded_turn(recorded).model_dump(mode="json"),
            "last_action_error": error,
        }
        reward = 0.0
        if gold is not None:
            breakdown: AnyRewardBreakdown = reply_reward(reply, gold, self.source.reward)
            reward = breakdown.total if whole else breakdown.action
            exact = exact_match(breakdown.predicted, gold, self.source.rules)
            self.exact.append(exact)
            info |= {"exact": exact, "reward_terms": breakdown.model_dump(mode="json")}
        self.steps += 1
        given = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)
        self._last = (given, error)
        terminated = self.steps >= len(self._rows)
        truncated = not terminated and self.steps >= self.max_steps
        if terminated or truncated:
            self.done = True
            info["evaluation"] = self.evaluation()
        return StepResult(self.observe(), reward, terminated, truncated, info)

    def evaluation(self) -> dict[str, Any]:
        """The episode's score: the share of its scored steps predicted exactly."""
        scored = len(self.exact)
        return {
            "score": sum(self.exact) / scored if scored else None,
            "evaluable": scored > 0,
            "exact": sum(self.exact),
            "scored": scored,
        }


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


class ReplaySession:
    """:class:`ReplayEpisode` with the async face of an :class:`~webserv.env.EnvSession`,
    as the rollout runner and the HTTP server drive envs."""

    def __init__(self, episode: ReplayEpisode) -> None:
        self.episode = episode

    @property
    def task(self) -> TaskConfig | None:
        return self.episode.task

    @property
    def steps(self) -> int:
        return self.episode.steps

    @property
    def done(self) -> bool:
        return self.episode.done

    @property
    def leases(self) -> dict[str, Lease]:
        return {}

    @property
    def instance_url(self) -> str | None:
        return None

    async def reset(
        self, task: TaskConfig, leases: Mapping[str, Lease] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start ``task``'s session; ``leases`` must be empty (a replay leases nothing)."""
        if leases:
            raise ValueError("a replay env leases no site instance")
        started = time.perf_counter()
        obs, info = self.episode.reset(task)
        info["timings"] = {"reset_ms": _ms(started)}
        return obs, info

    async def step(self, action: str | dict[str, Any]) -> StepResult:
        started = time.perf_counter()
        result = self.episode.step(action)
        result.info["timings"] = {"step_ms": _ms(started)}
        return result

    async def observe(self, screenshot: bool | None = None) -> Observation:
        return self.episode.observe(screenshot)

    async def close(self) -> None:
        self.episode.done = True


class ReplayFleet:
    """Rollout envs over a replay source (see :class:`~webserv.rollout.envs.EnvFleet`)."""

    target = "replay"

    def __init__(self, source: ReplaySource, *, max_steps: int, screenshot: bool) -> None:
        self.source = source
        self.max_steps = max_steps
        self.screenshot = screenshot

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def env(self) -> RolloutEnv:
        return SessionEnv(self.source.session(self.max_steps, self.screenshot))

    async def group(self, task: TaskConfig, n: int) -> list[RolloutEnv]:
        """``n`` envs: a recorded session starts the same for every member."""
        return [self.env() for _ in range(n)]


class ReplayEnv(gymnasium.Env[dict[str, Any], str]):
    """Gymnasium env over recorded sessions (``webserv/Replay-v0``).

    Observations have the live envs' keys (:func:`webserv.env.spaces.observation_space`);
    a screenshot is scaled to 1280 x 720. Actions are the policy's replies (see the module
    docstring); ``info["recorded"]`` after each step is the shopper's own decision there.

    Args:
        steps: a ``steps.jsonl`` or the run directory holding one.
        reward: ``shop-r1`` or ``customer-r1`` (published constants), or a reward config.
        rules: the exact-match rules of ``info["exact"]``: ``opera`` or ``shop-r1``.
        max_steps: truncate an episode after this many steps.
        screenshot: add the recorded screenshot (black when a step has none).
    """

    # An instance attribute in Gymnasium's Env, read from the class as Gymnasium does.
    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        steps: str | Path,
        reward: RewardScheme | AnyRewardConfig = "shop-r1",
        rules: RuleSet = "opera",
        max_steps: int = 1_000,
        screenshot: bool = False,
        render_mode: str | None = None,
    ) -> None:
        config = reward_config(reward) if isinstance(reward, str) else reward
        self.source = ReplaySource(Path(steps), reward=config, rules=rules)
        self.episode = ReplayEpisode(self.source, max_steps, screenshot)
        self.render_mode = render_mode
        self.screenshot = screenshot
        self.observation_space = observation_space(screenshot, *SCREEN)
        self.action_space = action_space()

    @property
    def tasks(self) -> list[TaskConfig]:
        return self.source.suite.tasks

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a session: ``options={"task_id": SESSION_ID}``, else one drawn by the seed."""
        super().reset(seed=seed)
        options = options or {}
        if options.get("task_id") is not None:
            task = self.source.suite.task(options["task_id"])
        else:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        obs, info = self.episode.reset(task)
        return self._convert(obs), info

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        result = self.episode.step(action)
        return (
            self._convert(result.observation),
            float(result.reward),
            result.terminated,
            result.truncated,
            result.info,
        )

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.episode.task is None:
            return None
        return self.episode.observe(screenshot=False).text

    def _convert(self, obs: Observation) -> dict[str, Any]:
        converted = to_gym(obs.model_copy(update={"screenshot": None}), False)
        if self.screenshot:
            converted["screenshot"] = _screen(obs.screenshot)
        return converted


def _screen(data: bytes | None) -> np.ndarray:
    """A recorded screenshot as an RGB array of the observation space's size."""
    from PIL import Image

    height, width = SCREEN
    if data is None:
        return np.zeros((height, width, 3), dtype=np.uint8)
    pixels = image(data)
    if pixels.shape[:2] == SCREEN:
        return pixels
    resized = Image.fromarray(pixels).resize((width, height))
    return np.asarray(resized, dtype=np.uint8)


__all__ = [
    "ReplayEnv",
    "ReplayEpisode",
    "ReplayFleet",
    "ReplaySession",
    "ReplaySource",
    "read_action",
]
