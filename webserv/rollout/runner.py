"""The rollout runner: many episodes of a policy on many envs at once, recorded as JSONL.

``run_rollouts`` schedules ``episodes`` episodes over ``envs`` concurrent envs on one event
loop. With ``group_size`` G > 1, episodes come in GRPO groups: G envs leased together from
the identical start state, the same task and persona, each with its own seed. Every step is
written as it finishes (:mod:`webserv.rollout.records`); a broken episode is recorded with
its error and the run goes on.

Each step's time is split into policy time (``act``) and env time (``reset``/``step``:
acting, settling, observing, evaluating), which is what the rollout benchmark reports.

With a :class:`~webserv.behaviour.safety.SafetyConfig`, every step is screened
(:mod:`webserv.behaviour.safety`): the page while the policy decides on it, then the
decision before the env gets it. A verdict that stops is not sent: the episode ends there,
the step recorded with the decision and its flags, the episode with ``stopped_by_screen``.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from webserv.behaviour.judging import JudgeConfig, MajEvaluator, load_personas
from webserv.behaviour.safety import SafetyConfig, TaskScope, Verdict, screen_for
from webserv.browser.screenshot import ScreenshotFormat
from webserv.policy.base import Decision, Policy, Turn
from webserv.policy.factory import ShopperKind, make_policy
from webserv.policy.persona import BUILTIN, Persona
from webserv.policy.prompt import PromptConfig
from webserv.policy.vlm import ChatModel, ModelConfig
from webserv.rollout.envs import EnvFleet, EnvStep, RolloutEnv
from webserv.rollout.records import EpisodeRecord, RunWriter, StepRecord, StepTimings
from webserv.stats import percentile
from webserv.tasks.config import TaskConfig


class JudgePanel(BaseModel):
    """A MAJ-EVAL panel judging each episode as it ends (:mod:`webserv.behaviour.judging`)."""

    personas: Path = Field(description="The evaluator personas (webserv behaviour personas).")
    model: ModelConfig = Field(description="The endpoint the personas speak through.")
    judge: JudgeConfig = Field(default_factory=JudgeConfig)

    def evaluator(self) -> MajEvaluator:
        """The panel, its personas read and its model client opened."""
        return MajEvaluator(ChatModel(self.model), load_personas(self.personas), self.judge)


class RolloutConfig(BaseModel):
    """What to run and where to write it."""

    policy: ShopperKind = "scripted"
    envs: int = Field(4, ge=1, description="Envs stepping at once.")
    episodes: int = Field(8, ge=1)
    group_size: int = Field(1, ge=1, description="Episodes per GRPO group (identical start).")
    max_steps: int = Field(20, ge=1, description="Most policy turns per episode.")
    seed: int = 0
    out: Path
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    model: ModelConfig | None = Field(None, description="Required for the vlm policy.")
    personas: list[Persona] | None = Field(
        default_factory=lambda: list(BUILTIN),
        description="Cycled over groups; None: no persona (a replayed session: the recorded "
        "shopper's, when a built-in persona has that name).",
    )
    screenshot_format: ScreenshotFormat = Field(
        "jpeg", description="Screenshots (prompt.screenshot) as png, jpeg or webp."
    )
    screenshot_quality: int = Field(80, ge=1, le=100, description="JPEG and WebP quality.")
    screenshot_scale: float = Field(1.0, gt=0, le=1, description="Size relative to the viewport.")
    safety: SafetyConfig | None = Field(None, description="Screen every step; None: no screen.")
    judge: JudgePanel | None = Field(None, description="Judge every episode; None: no panel.")

    def screenshots(self) -> dict[str, Any]:
        """The env options that say which screenshots each step takes."""
        return {
            "screenshot": self.prompt.screenshot,
            "screenshot_format": self.screenshot_format,
            "screenshot_quality": self.screenshot_quality,
            "screenshot_scale": self.screenshot_scale,
        }


class Totals(BaseModel):
    """Aggregates of a run."""

    episodes: int
    steps: int
    wall_s: float
    steps_per_s: float
    mean_reward: float
    successes: int
    format_errors: int
    action_errors: int
    episode_errors: int
    policy_ms_p50: float
    env_ms_p50: float
    policy_s_total: float
    env_s_total: float
    flags: dict[str, int] = Field(
        default_factory=dict, description="The safety screen's flags by dimension."
    )
    screen_stops: int = Field(0, description="Episodes the safety screen ended.")
    judge_mean: float | None = Field(None, description="Mean judging-panel score, if judged.")


class RunSummary(BaseModel):
    """One line of a run directory's runs.jsonl: a run, what it was asked and how it went."""

    run_id: str = Field(description="Begins the session_id of each of the run's records.")
    started: str = Field(description="UTC ISO time the run began.")
    config: RolloutConfig
    target: str = Field(description="in-process, or the server's URL.")
    totals: Totals


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def _utc() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


T = TypeVar("T")


async def _timed(step: Awaitable[T]) -> tuple[T, float]:
    """What ``step`` returns, and how many milliseconds it took."""
    t0 = time.perf_counter()
    return await step, _ms(t0)


async def _no_flags() -> Verdict:
    return Verdict()


def _action_error(result: EnvStep | None) -> str:
    return str(result.observation.get("last_action_error") or "") if result else ""


def _prompt_for_record(decision: Decision, image: str | None) -> list[dict[str, Any]] | None:
    """The prompt with the screenshot's data URL replaced by a reference to its file."""
    if decision.prompt is None:
        return None
    messages = []
    for message in decision.prompt:
        content = message["content"]
        if isinstance(content, list):
            content = [
                {"type": "image_url", "image_url": {"url": f"file://{image}"}}
                if part.get("type") == "image_url"
                else part
                for part in content
            ]
        messages.append({**message, "content": content})
    return messages


@dataclass
class _Taken:
    """One step as it went: the page, the decision, the screen's verdict, the env's reply."""

    observation: dict[str, Any]
    settled: bool | None
    decision: Decision
    verdict: Verdict
    screen_ms: float | None
    result: EnvStep | None = None
    env_ms: float | None = None


class _Episode:
    """One episode's bookkeeping while it runs."""

    def __init__(
        self,
        run: Rollout,
        env: RolloutEnv | None,
        task: TaskConfig,
        persona: Persona | None,
        index: int,
        group_id: str | None,
    ) -> None:
        self.run, self.env, self.task, self.persona = run, env, task, persona
        self.record = EpisodeRecord(
            session_id=f"{run.run_id}-{index:04d}",
            group_id=group_id,
            episode=index,
            task_id=task.task_id,
            intent=task.intent,
            persona=persona.name if persona else getattr(task, "persona", None),
            policy=run.config.policy,
        )
        self.history: list[Turn] = []
        self.observation: dict[str, Any] = {}
        self.settled: bool | None = None
        self.replay = False
        self.scope: TaskScope | None = None
        self._screened: dict[str, Any] | None = None  # the page the screen last judged
        self.steps: list[StepRecord] = []  # what a judging panel reads

    async def run_once(self) -> EpisodeRecord:
        record = self.record
        started = time.perf_counter()
        try:
            policy = await self._start()
            for step in range(self.run.config.max_steps):
                if await self._step(policy, step):
                    break
            else:
                record.truncated = True
        except Exception as err:  # one broken episode must not end the run
            record.error = f"{type(err).__name__}: {err}"
        if self.run.judge is not None and self.steps and not record.error:
            judged = await self.run.judge.evaluate_episode(self.steps, record)
            record.judge_score, record.judge_checks = judged.score, judged.checks
        record.wall_ms = _ms(started)
        record.env_ms = round(record.env_ms, 3)
        record.policy_ms = round(record.policy_ms, 3)
        self.run.writer.episode(record)
        return record

    async def _start(self) -> Policy:
        """The episode's policy, with its env reset to the task's first page."""
        config, record = self.run.config, self.record
        policy = make_policy(
            config.policy,
            seed=config.seed + record.episode,
            persona=self.persona,
            model=self.run.model,
            prompt=config.prompt,
        )
        assert self.env is not None
        t0 = time.perf_counter()
        self.observation, info = await self.env.reset(self.task)
        record.reset_ms = _ms(t0)
        record.env_ms += record.reset_ms
        # A replay scores the policy's whole reply, and a replayed page follows the
        # recorded decision, which the history keeps in place of the policy's.
        self.replay = "replay" in info
        self.settled = info.get("settled")
        self.scope = TaskScope.of(self.task, info, self.observation)
        return policy

    async def _step(self, policy: Policy, step: int) -> bool:
        """Decide on the current page, send the decision unless the screen stops it, record
        the step. True when the episode is over."""
        taken = await self._decide(policy)
        decision, record = taken.decision, self.record
        record.format_errors += decision.action is None
        sent = decision.raw_output if self.replay else decision.action
        if sent and not taken.verdict.stop:
            taken.result, taken.env_ms = await self._send(sent)
        self._write(step, taken)
        self._remember(taken)
        record.steps = step + 1
        record.screened(taken.verdict)
        if taken.verdict.stop:
            return True
        return taken.result is not None and self._advance(taken.result)

    async def _decide(self, policy: Policy) -> _Taken:
        """The policy's decision on the current page and the screen's verdict: on the page
        (while the policy decides, once per page) and then on the decision."""
        screen, scope, page = self.run.screen, self.scope, self.observation
        assert scope is not None
        fresh, self._screened = page is not self._screened, page
        judging = screen.observation(scope, self.history, page) if fresh else _no_flags()
        (decision, policy_ms), (verdict, screen_ms) = await asyncio.gather(
            _timed(policy.act(page, self.history)), _timed(judging)
        )
        self.record.policy_ms += policy_ms
        self.run.policy_samples.append(policy_ms)
        if not verdict.stop:  # a stopped page's decision is not sent, so not judged
            judged, judged_ms = await _timed(screen.decision(scope, self.history, page, decision))
            verdict, screen_ms = verdict + judged, screen_ms + judged_ms
        timed = round(screen_ms, 3) if self.run.config.safety is not None else None
        return _Taken(page, self.settled, decision, verdict, timed)

    async def _send(self, action: str) -> tuple[EnvStep, float]:
        assert self.env is not None
        result, env_ms = await _timed(self.env.step(action))
        self.record.env_ms += env_ms
        self.run.env_samples.append(env_ms)
        return result, env_ms

    def _remember(self, taken: _Taken) -> None:
        """Add the step to the history (on a replay, the recorded decision)."""
        action_error = _action_error(taken.result)
        self.record.action_errors += bool(action_error)
        if taken.result is not None and "recorded" in taken.result.info:
            self.history.append(Turn.model_validate(taken.result.info["recorded"]))
        else:
            self.history.append(Turn.of(taken.observation, taken.decision, action_error))

    def _advance(self, result: EnvStep) -> bool:
        """Move on to the page the step led to; True when the episode ended there."""
        record = self.record
        self.observation, self.settled = result.observation, result.info.get("settled")
        record.reward += result.reward
        if not (result.terminated or result.truncated):
            return False
        record.terminated, record.truncated = result.terminated, result.truncated
        record.answer = result.observation.get("answer")
        record.score = (result.info.get("evaluation") or {}).get("score")
        return True

    def _write(self, step: int, taken: _Taken) -> None:
        record, observation, decision = self.record, taken.observation, taken.decision
        result = taken.result
        png = observation.get("screenshot")
        image = (
            self.run.writer.screenshot(record.session_id, step, bytes(png))
            if isinstance(png, bytes | bytearray)
            else None
        )
        opera = decision.opera_action
        parsed_name = decision.action.split("(", 1)[0] if decision.action else None
        self.steps.append(
            StepRecord(
                session_id=record.session_id,
                group_id=record.group_id,
                episode=record.episode,
                step=step,
                action_id=uuid.uuid4().hex,
                timestamp=_utc(),
                task_id=record.task_id,
                intent=record.intent,
                persona=record.persona,
                url=str(observation.get("url", "")),
                title=str(observation.get("title", "")),
                observation_text=str(observation.get("text", "")),
                obs_tokens=int(observation.get("token_count") or 0),
                settled=taken.settled,
                image=image,
                prompt=_prompt_for_record(decision, image),
                model_output=decision.raw_output,
                rationale=decision.rationale,
                action=opera,
                action_type=opera["type"] if opera else parsed_name,
                semantic_id=opera.get("name") if opera else None,
                input_text=opera.get("text") if opera else None,
                env_action=decision.action,
                format_ok=decision.format_ok,
                format_error=decision.format_error,
                action_error=_action_error(result),
                reward=result.reward if result else 0.0,
                terminated=result.terminated if result else False,
                truncated=result.truncated if result else False,
                usage=decision.usage,
                context=decision.context,
                timings=StepTimings(
                    policy_ms=decision.policy_ms,
                    model_ms=decision.model_ms,
                    env_ms=taken.env_ms,
                    settle_ms=result.observation.get("settle_ms") if result else None,
                    screenshot_ms=result.info["timings"].get("screenshot_ms") if result else None,
                    screen_ms=taken.screen_ms,
                ),
                flags=taken.verdict.flags,
                target=result.info.get("target") if result else None,
            )
        )
        self.run.writer.step(self.steps[-1])
        self.run.on_step()


class Rollout:
    """One run: its config, its fleet of envs, its writer and its results."""

    def __init__(
        self,
        config: RolloutConfig,
        fleet: EnvFleet,
        tasks: Sequence[TaskConfig],
        *,
        on_step: Callable[[], None] | None = None,
        on_episode: Callable[[EpisodeRecord], None] | None = None,
    ) -> None:
        if not tasks:
            raise ValueError("a rollout needs at least one task")
        if config.group_size > config.envs:
            raise ValueError(
                f"a group of {config.group_size} needs at least as many envs (got {config.envs})"
            )
        if config.policy == "vlm" and config.model is None:
            raise ValueError("the vlm policy needs --endpoint and --model")
        self.config, self.fleet, self.tasks = config, fleet, list(tasks)
        self.run_id = uuid.uuid4().hex[:8]
        self.writer = RunWriter(config.out)
        self.model = ChatModel(config.model) if config.model is not None else None
        self.screen = screen_for(config.safety)
        self.judge = config.judge.evaluator() if config.judge else None
        self.on_step = on_step or (lambda: None)
        self.on_episode = on_episode or (lambda record: None)
        self.records: list[EpisodeRecord] = []
        self.policy_samples: list[float] = []  # per step: time in act()
        self.env_samples: list[float] = []  # per step: time in env.step()

    def _persona(self, unit: int, task: TaskConfig) -> Persona | None:
        personas = self.config.personas
        if personas:
            return personas[unit % len(personas)]
        # A replayed session carries its shopper: a survey, or a built-in persona.
        shopper = getattr(task, "shopper", None)
        return Persona.model_validate(shopper) if shopper else None

    async def _unit(self, unit: int) -> None:
        """One group (or one episode when group_size is 1), all members at once."""
        config = self.config
        task = self.tasks[unit % len(self.tasks)]
        first = unit * config.group_size
        size = min(config.group_size, config.episodes - first)
        group_id = f"{self.run_id}-g{unit:03d}" if config.group_size > 1 else None
        try:
            envs = await self.fleet.group(task, size) if group_id else [self.fleet.env()]
        except Exception as err:  # the pool cannot serve this group now; record it and go on
            for i in range(size):
                record = _Episode(
                    self, None, task, self._persona(unit, task), first + i, group_id
                ).record
                record.error = f"{type(err).__name__}: {err}"
                self.writer.episode(record)
                self.records.append(record)
                self.on_episode(record)
            return
        try:
            episodes = [
                _Episode(self, env, task, self._persona(unit, task), first + i, group_id)
                for i, env in enumerate(envs)
            ]
            for record in await asyncio.gather(*(e.run_once() for e in episodes)):
                self.records.append(record)
                self.on_episode(record)
        finally:
            await asyncio.gather(*(env.close() for env in envs), return_exceptions=True)

    async def run(self) -> RunSummary:
        config = self.config
        units = math.ceil(config.episodes / config.group_size)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for unit in range(units):
            queue.put_nowait(unit)

        async def worker() -> None:
            while not queue.empty():
                await self._unit(queue.get_nowait())

        started, started_at = time.perf_counter(), _utc()
        workers = max(1, config.envs // config.group_size)
        try:
            await asyncio.gather(*(worker() for _ in range(min(workers, units))))
        finally:
            for model in (self.model, self.judge.model if self.judge else None):
                if model is not None:
                    await model.close()
            await self.screen.close()
            self.writer.close()
        summary = RunSummary(
            run_id=self.run_id,
            started=started_at,
            config=config,
            target=getattr(self.fleet, "target", "in-process"),
            totals=self.totals(time.perf_counter() - started),
        )
        self.writer.summary(summary)
        return summary

    def totals(self, wall_s: float) -> Totals:
        records = self.records
        steps = sum(r.steps for r in records)
        policy, env = self.policy_samples, self.env_samples
        judged = [r.judge_score for r in records if r.judge_score is not None]
        return Totals(
            episodes=len(records),
            steps=steps,
            wall_s=round(wall_s, 2),
            steps_per_s=round(steps / wall_s, 3) if wall_s > 0 else 0.0,
            mean_reward=round(sum(r.reward for r in records) / len(records), 4) if records else 0,
            successes=sum(r.score == 1.0 for r in records),
            format_errors=sum(r.format_errors for r in records),
            action_errors=sum(r.action_errors for r in records),
            episode_errors=sum(bool(r.error) for r in records),
            policy_ms_p50=round(percentile(policy, 50), 3) if policy else 0.0,
            env_ms_p50=round(percentile(env, 50), 3) if env else 0.0,
            policy_s_total=round(sum(r.policy_ms for r in records) / 1000, 3),
            env_s_total=round(sum(r.env_ms for r in records) / 1000, 3),
            flags=dict(sum((Counter(r.flags) for r in records), Counter())),
            screen_stops=sum(r.stopped_by_screen for r in records),
            judge_mean=round(fmean(judged), 4) if judged else None,
        )


async def run_rollouts(
    config: RolloutConfig,
    fleet: EnvFleet,
    tasks: Sequence[TaskConfig],
    *,
    on_step: Callable[[], None] | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> RunSummary:
    """Run ``config.episodes`` episodes of ``tasks`` (cycled) on ``fleet``; write and summarise."""
    await fleet.start()
    try:
        return await Rollout(config, fleet, tasks, on_step=on_step, on_episode=on_episode).run()
    finally:
        await fleet.close()
