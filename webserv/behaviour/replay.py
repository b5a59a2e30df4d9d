"""Offline next-action evaluation over recorded steps, and scoring of prediction files.

``evaluate`` is OPeRA's next-action prediction task on the ``steps.jsonl`` of a rollout (or
any file of :class:`~webserv.rollout.records.StepRecord` lines): for every recorded step it
rebuilds what the policy would have seen - the recorded page (and screenshot), the task and
the session's earlier steps with their recorded rationales and actions - asks the policy
for its next action, and scores it against the recorded one with the Shop-R1 reward
(:mod:`.rewards`) and the fidelity metrics (:mod:`.metrics`). Sessions are replayed step by
step in order, so a stateful baseline (scripted, random) sees every step; a step whose
recorded action is outside the OPeRA action space (``select``, ``back``, a format error) is
shown to the policy and kept in the history but not scored.

An evaluation directory holds ``predictions.jsonl`` (one :class:`Prediction` per step) and
``summary.json`` (one :class:`EvalSummary`); both are written anew by each evaluation.
``score`` pairs any prediction file with gold steps by ``session_id`` and ``step``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from webserv.behaviour.metrics import FidelityMetrics, exact_match, fidelity, type_of
from webserv.behaviour.rewards import (
    ACTION_TYPES,
    GoldAction,
    OperaAction,
    RewardBreakdown,
    RewardConfig,
    shop_r1_reward,
)
from webserv.policy.base import Decision, Turn, Usage
from webserv.policy.factory import ShopperKind, make_policy
from webserv.policy.persona import Persona, builtin
from webserv.policy.prompt import PromptConfig
from webserv.policy.vlm import ChatModel, ModelConfig
from webserv.rollout.records import StepRecord, read_jsonl


class ReplayError(ValueError):
    """A file cannot be read as steps or predictions; the message says where and why."""


def load_steps(path: Path) -> list[StepRecord]:
    """The step records of a JSONL file (``steps.jsonl`` of a rollout)."""
    if not path.is_file():
        raise ReplayError(f"{path}: no such file")
    steps = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            steps.append(StepRecord.model_validate_json(line))
        except ValidationError as err:
            raise ReplayError(f"{path}:{number}: not a step record: {err}") from err
    if not steps:
        raise ReplayError(f"{path}: no steps")
    return steps


def gold_action(step: StepRecord) -> GoldAction | None:
    """The recorded action as ground truth, or None when OPeRA's three types cannot say it."""
    if step.action is None or OperaAction.read(step.action).type not in ACTION_TYPES:
        return None
    return GoldAction.of(step.action)


def sessions(steps: Iterable[StepRecord]) -> dict[str, list[StepRecord]]:
    """The steps of each session, in step order; sessions in order of first appearance."""
    grouped: dict[str, list[StepRecord]] = {}
    for step in steps:
        grouped.setdefault(step.session_id, []).append(step)
    return {sid: sorted(rows, key=lambda s: s.step) for sid, rows in grouped.items()}


def recorded_turn(step: StepRecord) -> Turn:
    """A recorded step as the history entry a policy would have kept of it."""
    return Turn(
        url=step.url,
        title=step.title,
        text=step.observation_text,
        decision=Decision(
            rationale=step.rationale,
            action=step.env_action,
            opera_action=step.action,
            raw_output=step.model_output,
            format_error=step.format_error,
            format_ok=step.format_ok,
        ),
        action_error=step.action_error,
    )


def recorded_observation(
    step: StepRecord, previous: StepRecord | None, run_dir: Path, screenshot: bool
) -> dict[str, Any]:
    """The observation the step's decision was made on, as the env had given it."""
    png = None
    if screenshot and step.image and (run_dir / step.image).is_file():
        png = (run_dir / step.image).read_bytes()
    return {
        "url": step.url,
        "title": step.title,
        "text": step.observation_text,
        "goal": step.intent,
        "tabs": [],
        "token_count": step.obs_tokens,
        "last_action_error": previous.action_error if previous else "",
        "screenshot": png,
    }


class Prediction(BaseModel):
    """One replayed step: the policy's action, the recorded one and how they compare."""

    session_id: str
    step: int
    action_id: str
    predicted: dict[str, Any] | None = Field(description="OPeRA form; None if not expressible.")
    env_action: str | None = None
    rationale: str = ""
    model_output: str = ""
    format_ok: bool = False
    format_error: str = ""
    gold: dict[str, Any] | None = Field(description="The recorded action; None: not scored.")
    exact: bool | None = None
    type_match: bool | None = None
    reward: RewardBreakdown | None = None
    usage: Usage | None = None
    policy_ms: float = 0.0
    model_ms: float | None = None


class RewardMeans(BaseModel):
    """Mean reward terms over the scored steps."""

    total: float
    format: float
    action: float
    type: float
    similarity: float = Field(description="Mean of name_similarity + text_similarity.")


class EvalConfig(BaseModel):
    """What to replay, with which policy, and where to write the results."""

    steps: Path
    out: Path
    policy: ShopperKind = "vlm"
    model: ModelConfig | None = None
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    concurrency: int = Field(4, ge=1, description="Sessions replayed at once.")
    max_sessions: int | None = Field(None, ge=1, description="Replay only the first N.")
    seed: int = Field(0, description="Baselines use seed + the recorded episode number.")


class EvalSummary(BaseModel):
    """``summary.json`` of an evaluation directory."""

    config: EvalConfig
    sessions: int
    steps: int = Field(description="Steps replayed.")
    scored: int = Field(description="Steps with an OPeRA ground truth.")
    format_ok_rate: float
    metrics: FidelityMetrics
    reward: RewardMeans
    wall_s: float


def _persona(name: str | None) -> Persona | None:
    if name is None:
        return None
    try:
        return builtin(name)
    except KeyError:
        return None  # a persona from a file: the policy is prompted without one


def _prediction(step: StepRecord, decision: Decision, reward_config: RewardConfig) -> Prediction:
    gold = gold_action(step)
    predicted = OperaAction.read(decision.opera_action) if decision.opera_action else None
    prediction = Prediction(
        session_id=step.session_id,
        step=step.step,
        action_id=step.action_id,
        predicted=decision.opera_action,
        env_action=decision.action,
        rationale=decision.rationale,
        model_output=decision.raw_output,
        format_ok=decision.format_ok,
        format_error=decision.format_error,
        gold=step.action if gold else None,
        usage=decision.usage,
        policy_ms=decision.policy_ms,
        model_ms=decision.model_ms,
    )
    if gold is not None:
        prediction.exact = exact_match(predicted, gold)
        prediction.type_match = type_of(predicted) == gold.type
        prediction.reward = shop_r1_reward(decision.raw_output, gold, reward_config)
    return prediction


async def _replay_session(
    config: EvalConfig, rows: list[StepRecord], model: ChatModel | None
) -> list[Prediction]:
    first = rows[0]
    policy = make_policy(
        config.policy,
        seed=config.seed + first.episode,
        persona=_persona(first.persona),
        model=model,
        prompt=config.prompt,
    )
    run_dir = config.steps.parent
    out = []
    for i, step in enumerate(rows):
        previous = rows[i - 1] if i else None
        observation = recorded_observation(step, previous, run_dir, config.prompt.screenshot)
        history = [recorded_turn(s) for s in rows[:i]]
        decision = await policy.act(observation, history)
        out.append(_prediction(step, decision, config.reward))
    return out


def _means(rewards: list[RewardBreakdown]) -> RewardMeans:
    n = len(rewards)
    return RewardMeans(
        total=sum(r.total for r in rewards) / n,
        format=sum(r.format for r in rewards) / n,
        action=sum(r.action for r in rewards) / n,
        type=sum(r.type for r in rewards) / n,
        similarity=sum(r.name_similarity + r.text_similarity for r in rewards) / n,
    )


async def evaluate(
    config: EvalConfig, on_step: Callable[[Prediction], None] | None = None
) -> EvalSummary:
    """Replay every recorded session with the policy; write and return the results."""
    if config.policy == "vlm" and config.model is None:
        raise ValueError("the vlm policy needs a model endpoint")
    grouped = list(sessions(load_steps(config.steps)).values())[: config.max_sessions]
    if not any(gold_action(s) for rows in grouped for s in rows):
        raise ReplayError(f"{config.steps}: no step has an action of the three OPeRA types")
    started = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    model = ChatModel(config.model) if config.policy == "vlm" and config.model else None
    gate = asyncio.Semaphore(config.concurrency)
    predictions: list[Prediction] = []
    with (config.out / "predictions.jsonl").open("w", encoding="utf-8") as sink:

        async def one(rows: list[StepRecord]) -> None:
            async with gate:
                for prediction in await _replay_session(config, rows, model):
                    sink.write(prediction.model_dump_json() + "\n")
                    predictions.append(prediction)
                    if on_step is not None:
                        on_step(prediction)

        try:
            await asyncio.gather(*(one(rows) for rows in grouped))
        finally:
            if model is not None:
                await model.close()
    scored = [p for p in predictions if p.reward is not None]
    summary = EvalSummary(
        config=config,
        sessions=len(grouped),
        steps=len(predictions),
        scored=len(scored),
        format_ok_rate=sum(p.format_ok for p in predictions) / len(predictions),
        metrics=fidelity(_pairs(scored)),
        reward=_means([p.reward for p in scored if p.reward is not None]),
        wall_s=round(time.perf_counter() - started, 3),
    )
    (config.out / "summary.json").write_text(
        summary.model_dump_json(indent=2, exclude={"config": {"model": {"api_key"}}}) + "\n"
    )
    return summary


def _pairs(predictions: Iterable[Prediction]) -> list[tuple[OperaAction | None, GoldAction]]:
    return [
        (OperaAction.read(p.predicted) if p.predicted else None, GoldAction.of(p.gold))
        for p in predictions
        if p.gold is not None
    ]


class ScoreResult(BaseModel):
    """Predictions paired with gold steps and scored."""

    metrics: FidelityMetrics
    paired: int = Field(description="Gold steps with a prediction.")
    missing: int = Field(description="Gold steps without a prediction (scored as wrong).")
    unmatched: int = Field(description="Predictions of no gold step.")
    not_scored: int = Field(description="Gold steps outside the OPeRA action space.")
    reward: RewardMeans | None = Field(
        None, description="Over the paired predictions with a model_output; None if none has."
    )


def _predicted_of(line: Mapping[str, Any]) -> OperaAction | None:
    """A prediction line's action: ``predicted`` (an evaluation's) or ``action`` (a step's)."""
    action = line.get("predicted", line.get("action"))
    return OperaAction.read(action) if isinstance(action, Mapping) else None


def score(
    predictions_path: Path, gold_path: Path, reward_config: RewardConfig | None = None
) -> ScoreResult:
    """Pair predictions with gold steps by ``(session_id, step)`` and compute the metrics.

    A prediction line carrying the raw ``model_output`` is also given its Shop-R1 reward.
    """
    if not predictions_path.is_file():
        raise ReplayError(f"{predictions_path}: no such file")
    try:
        lines = read_jsonl(predictions_path)
    except json.JSONDecodeError as err:
        raise ReplayError(f"{predictions_path}: not JSON lines: {err}") from err
    predicted: dict[tuple[str, int], OperaAction | None] = {}
    replies: dict[tuple[str, int], str] = {}
    for number, line in enumerate(lines, 1):
        if not isinstance(line, dict) or "session_id" not in line or "step" not in line:
            raise ReplayError(f"{predictions_path}:{number}: needs session_id and step")
        key = (str(line["session_id"]), int(line["step"]))
        predicted[key] = _predicted_of(line)
        if isinstance(line.get("model_output"), str):
            replies[key] = line["model_output"]
    pairs: list[tuple[OperaAction | None, GoldAction]] = []
    rewards: list[RewardBreakdown] = []
    missing = not_scored = 0
    gold_keys = set()
    for step in load_steps(gold_path):
        key = (step.session_id, step.step)
        gold_keys.add(key)
        gold = gold_action(step)
        if gold is None:
            not_scored += 1
            continue
        missing += key not in predicted
        pairs.append((predicted.get(key), gold))
        if key in replies:
            rewards.append(shop_r1_reward(replies[key], gold, reward_config))
    paired = len(pairs) - missing
    if not paired:
        raise ReplayError(
            f"no prediction in {predictions_path} is of a scorable step of {gold_path} "
            "(pairs are matched by session_id and step)"
        )
    return ScoreResult(
        metrics=fidelity(pairs),
        paired=paired,
        missing=missing,
        unmatched=len(predicted.keys() - gold_keys),
        not_scored=not_scored,
        reward=_means(rewards) if rewards else None,
    )
