"""Offline next-action evaluation over recorded steps, and scoring of prediction files.

``evaluate`` is OPeRA's next-action prediction task on the ``steps.jsonl`` of a rollout (or
any file of :class:`~webserv.rollout.records.StepRecord` lines): for every recorded step it
rebuilds what the policy would have seen - the recorded page (and screenshot), the task and
the session's earlier steps with their recorded rationales and actions - asks the policy
for its next action, and scores it against the recorded one with the chosen reward
(Shop-R1's or Customer-R1's, :mod:`.rewards`) and the fidelity metrics (:mod:`.metrics`).
Sessions are replayed step by step in order, so a stateful baseline (scripted, random) sees
every step; a step whose recorded action is outside the OPeRA action space (``select``,
``back``, a format error) is shown to the policy and kept in the history but not scored.

An evaluation directory holds ``predictions.jsonl`` (one :class:`Prediction` per step) and
``summary.json`` (one :class:`EvalSummary`); both are written anew by each evaluation.
``score`` pairs any prediction file with gold steps by ``session_id`` and ``step``. A line
may carry the parsed action (``predicted``, or a step record's ``action``) or only the raw
reply (``model_output``), which is then read with the policy's parser
(:func:`webserv.policy.parse.parse_output`) as during an evaluation; a reply it cannot read
is a format error, counted and scored as no action. A file none of whose lines has any of
those fields is refused rather than scored as all wrong.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from webserv.behaviour.aligned import (
    AlignedRule,
    ElicitationConfig,
    TextScorer,
    aligned_rationale_term,
)
from webserv.behaviour.metrics import (
    BehaviourReport,
    FidelityMetrics,
    StepOutcome,
    behaviour_report,
    type_of,
)
from webserv.behaviour.rewards import (
    ACTION_TYPES,
    AnyRewardBreakdown,
    AnyRewardConfig,
    GoldAction,
    NameCompare,
    OperaAction,
    RewardBreakdown,
    RewardConfig,
    RewardScheme,
    RuleSet,
    exact_match,
    reply_reward,
)
from webserv.policy.base import Decision, Turn, Usage
from webserv.policy.factory import ShopperKind, make_policy
from webserv.policy.parse import parse_output, shop_r1_object
from webserv.policy.persona import Persona, builtin, survey_persona
from webserv.policy.prompt import PromptConfig
from webserv.policy.vlm import ChatModel, ModelConfig
from webserv.rollout.records import StepRecord, read_jsonl

#: What summary.json leaves out of the settings: the endpoints' keys.
SECRETS: dict[str, Any] = {"config": {"model": {"api_key"}, "aligned": {"model": {"api_key"}}}}


class ReplayError(ValueError):
    """A file cannot be read as steps or predictions; the message says where and why."""


def load_steps(path: Path) -> list[StepRecord]:
    """The step records of a JSONL file (``steps.jsonl`` of a rollout, or an OPeRA import)."""
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
    """The recorded action as ground truth, or None when OPeRA's three types cannot say it.

    An OPeRA import's click keeps its ``click_type`` in the action, which Customer-R1's
    reward weighs by; webserv's own recordings have none.
    """
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
    persona: str | None = Field(
        None,
        description="The recorded session's persona: its name in a rollout, the shopper's "
        "user id in an OPeRA import (per-user breakdowns group by it).",
    )
    predicted: dict[str, Any] | None = Field(description="OPeRA form; None if not expressible.")
    env_action: str | None = None
    rationale: str = ""
    model_output: str = ""
    format_ok: bool = Field(False, description="The reply passed Shop-R1's format check.")
    parsed: bool = Field(
        False, description="The policy's parser read an action from the reply (lenient)."
    )
    format_error: str = ""
    gold: dict[str, Any] | None = Field(description="The recorded action; None: not scored.")
    gold_rationale: str = Field("", description="The rationale recorded with the action.")
    gold_click_type: str | None = Field(None, description="The recorded click's click_type.")
    missing: bool = Field(
        False, description="No prediction of this gold step was given (score): no action."
    )
    exact: bool | None = None
    type_match: bool | None = None
    reward: AnyRewardBreakdown | None = None
    usage: Usage | None = None
    policy_ms: float = 0.0
    model_ms: float | None = None


class RewardMeans(BaseModel):
    """Mean reward terms over the scored steps, and what wrong actions earned of the total."""

    scheme: RewardScheme = Field(description="The reward: shop-r1 or customer-r1.")
    name_compare: NameCompare | None = Field(
        None, description="How Shop-R1 compared element names; None under Customer-R1."
    )
    total: float
    format: float
    action: float
    type: float | None = Field(None, description="Shop-R1's type term; None under Customer-R1.")
    similarity: float | None = Field(
        None, description="Mean of name_similarity + text_similarity (Shop-R1 only)."
    )
    aligned_rationale: float = Field(0.0, description="The aligned-rationale term (0: off).")
    wrong_share: float | None = Field(
        description="Share of the summed total reward earned by replies that are not the "
        "recorded action (OPeRA's exact match); None when the sum is 0. Under Customer-R1 "
        "wrong clicks cost, so it can be negative."
    )


class AlignedTermConfig(BaseModel):
    """The aligned-rationale term of the rewards (:mod:`.aligned`): the predicted rationale
    scored against the recorded one by a fitted proper rule, through a chat model."""

    rule: Path = Field(description="A rule fitted by `webserv behaviour fit-aligned`.")
    weight: float = Field(1.0, ge=0, description="What a score of 1 adds to the reward.")
    model: ModelConfig = Field(description="The endpoint that elicits the reports.")
    elicitation: ElicitationConfig = Field(default_factory=ElicitationConfig)


class EvalConfig(BaseModel):
    """What to replay, with which policy, and where to write the results."""

    steps: Path
    out: Path
    policy: ShopperKind = "vlm"
    model: ModelConfig | None = None
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    reward: AnyRewardConfig = Field(
        default_factory=RewardConfig, description="Shop-R1's or Customer-R1's, by its scheme."
    )
    rules: RuleSet = Field("opera", description="The exact-match rule set: opera or shop-r1.")
    aligned: AlignedTermConfig | None = Field(
        None, description="Add the aligned-rationale term to each formatted reply's reward."
    )
    personas: dict[str, Persona] = Field(
        default_factory=dict,
        description="Personas by the recorded sessions' persona field, in place of the "
        "recorded ones (a survey in personas.json, or the built-in persona of that name).",
    )
    sessions: list[str] | None = Field(None, description="Replay only these session ids.")
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
    metrics: FidelityMetrics = Field(description="The step metrics (report.metrics).")
    report: BehaviourReport
    reward: RewardMeans
    wall_s: float


def load_surveys(run_dir: Path) -> dict[str, str]:
    """The recorded shoppers' survey answers of a run directory (an OPeRA import's
    ``personas.json``: user id -> survey text); empty when it has none."""
    path = run_dir / "personas.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReplayError(f"{path}: not JSON: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ReplayError(f"{path}: must map user ids to survey text")
    return data


def recorded_persona(name: str | None, surveys: Mapping[str, str]) -> Persona | None:
    """The persona of a recorded session's ``persona`` field: a recorded shopper's survey
    (an OPeRA user id), else the built-in persona of that name, else none."""
    if name is None:
        return None
    if name in surveys:
        return survey_persona(name, surveys[name])
    try:
        return builtin(name)
    except KeyError:
        return None  # a persona from a file: the policy is prompted without one


def _prediction(
    step: StepRecord,
    config: AnyRewardConfig,
    rules: RuleSet,
    reply: str | None,
    **decided: Any,
) -> Prediction:
    """The prediction of ``step``: the recorded side from the step, the rest from ``decided``.

    A scorable step is compared with the predicted action and, when there is a ``reply``, is
    given the reward of it.
    """
    gold = gold_action(step)
    prediction = Prediction(
        session_id=step.session_id,
        step=step.step,
        action_id=step.action_id,
        persona=step.persona,
        gold=step.action if gold else None,
        gold_rationale=step.rationale,
        gold_click_type=gold.click_type if gold else None,
        **decided,
    )
    if gold is not None:
        predicted = OperaAction.read(prediction.predicted) if prediction.predicted else None
        prediction.exact = exact_match(predicted, gold, rules)
        prediction.type_match = type_of(predicted) == gold.type
        if reply is not None:
            prediction.reward = reply_reward(reply, gold, config)
    return prediction


def _decided(decision: Decision) -> dict[str, Any]:
    """A policy's decision as the Prediction fields it fills."""
    return {
        "predicted": decision.opera_action,
        "env_action": decision.action,
        "rationale": decision.rationale,
        "model_output": decision.raw_output,
        "format_ok": decision.format_ok,
        "parsed": not decision.format_error,
        "format_error": decision.format_error,
        "usage": decision.usage,
        "policy_ms": decision.policy_ms,
        "model_ms": decision.model_ms,
    }


@dataclass
class _Endpoints:
    """What an evaluation calls: the policy's model, and the scorer of the aligned term."""

    model: ChatModel | None
    scorer: TextScorer | None

    @classmethod
    def of(cls, config: EvalConfig) -> _Endpoints:
        aligned = config.aligned
        return cls(
            model=ChatModel(config.model) if config.policy == "vlm" and config.model else None,
            scorer=TextScorer(
                ChatModel(aligned.model), AlignedRule.load(aligned.rule), aligned.elicitation
            )
            if aligned
            else None,
        )

    async def close(self) -> None:
        for model in (self.model, self.scorer.model if self.scorer else None):
            if model is not None:
                await model.close()


async def _replay_session(
    config: EvalConfig, rows: list[StepRecord], endpoints: _Endpoints, surveys: dict[str, str]
) -> list[Prediction]:
    first = rows[0]
    persona = config.personas.get(first.persona or "") or recorded_persona(first.persona, surveys)
    policy = make_policy(
        config.policy,
        seed=config.seed + first.episode,
        persona=persona,
        model=endpoints.model,
        prompt=config.prompt,
    )
    run_dir = config.steps.parent
    out = []
    for i, step in enumerate(rows):
        previous = rows[i - 1] if i else None
        observation = recorded_observation(step, previous, run_dir, config.prompt.screenshot)
        history = [recorded_turn(s) for s in rows[:i]]
        decision = await policy.act(observation, history)
        decided = _decided(decision)
        prediction = _prediction(step, config.reward, config.rules, decision.raw_output, **decided)
        reward = prediction.reward
        if endpoints.scorer and config.aligned and reward is not None and reward.format_ok:
            term = await aligned_rationale_term(
                endpoints.scorer, decision.rationale, step.rationale, config.aligned.weight
            )
            reward.aligned_rationale = term.value
        out.append(prediction)
    return out


def _means(rewards: list[AnyRewardBreakdown], config: AnyRewardConfig) -> RewardMeans:
    n = len(rewards)
    total = sum(r.total for r in rewards)
    shop_r1 = [r for r in rewards if isinstance(r, RewardBreakdown)]
    return RewardMeans(
        scheme=config.scheme,
        name_compare=config.name_compare if isinstance(config, RewardConfig) else None,
        total=total / n,
        format=sum(r.format for r in rewards) / n,
        action=sum(r.action for r in rewards) / n,
        type=sum(r.type for r in shop_r1) / n if shop_r1 else None,
        similarity=sum(r.name_similarity + r.text_similarity for r in shop_r1) / n
        if shop_r1
        else None,
        wrong_share=sum(r.total for r in rewards if not r.exact) / total if total else None,
        aligned_rationale=sum(r.aligned_rationale for r in rewards) / n,
    )


async def evaluate(
    config: EvalConfig, on_step: Callable[[Prediction], None] | None = None
) -> EvalSummary:
    """Replay every recorded session with the policy; write and return the results."""
    if config.policy == "vlm" and config.model is None:
        raise ValueError("the vlm policy needs a model endpoint")
    recorded = sessions(load_steps(config.steps))
    if config.sessions is not None:
        unknown = set(config.sessions) - set(recorded)
        if unknown:
            raise ReplayError(f"{config.steps}: no session {sorted(unknown)[0]!r}")
        recorded = {sid: recorded[sid] for sid in config.sessions}
    grouped = list(recorded.values())[: config.max_sessions]
    surveys = load_surveys(config.steps.parent)
    if not any(gold_action(s) for rows in grouped for s in rows):
        raise ReplayError(f"{config.steps}: no step has an action of the three OPeRA types")
    started = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    endpoints = _Endpoints.of(config)
    gate = asyncio.Semaphore(config.concurrency)
    predictions: list[Prediction] = []
    with (config.out / "predictions.jsonl").open("w", encoding="utf-8") as sink:

        async def one(rows: list[StepRecord]) -> None:
            async with gate:
                for prediction in await _replay_session(config, rows, endpoints, surveys):
                    sink.write(prediction.model_dump_json() + "\n")
                    predictions.append(prediction)
                    if on_step is not None:
                        on_step(prediction)

        try:
            await asyncio.gather(*(one(rows) for rows in grouped))
        finally:
            await endpoints.close()
    scored = [p for p in predictions if p.reward is not None]
    report = behaviour_report(outcomes(scored), config.rules)
    summary = EvalSummary(
        config=config,
        sessions=len(grouped),
        steps=len(predictions),
        scored=len(scored),
        format_ok_rate=sum(p.format_ok for p in predictions) / len(predictions),
        metrics=report.metrics,
        report=report,
        reward=_means([p.reward for p in scored if p.reward is not None], config.reward),
        wall_s=round(time.perf_counter() - started, 3),
    )
    (config.out / "summary.json").write_text(
        summary.model_dump_json(indent=2, exclude=SECRETS) + "\n"
    )
    return summary


def outcomes(predictions: Iterable[Prediction]) -> list[StepOutcome]:
    """The scorable predictions as the report reads them. A recorded session's ``persona`` is
    its persona in a rollout and its shopper in an OPeRA import (each shopper has their own
    survey persona): it keys both the per-user and the per-persona breakdowns."""
    return [
        StepOutcome(
            session_id=p.session_id,
            step=p.step,
            user_id=p.persona,
            persona=p.persona,
            gold=GoldAction.of(p.gold),
            gold_click_type=p.gold_click_type,
            predicted=OperaAction.read(p.predicted) if p.predicted else None,
            format_valid=None if p.missing else p.parsed,
            rationale=p.rationale,
            gold_rationale=p.gold_rationale,
        )
        for p in predictions
        if p.gold is not None
    ]


class ScoreResult(BaseModel):
    """Predictions paired with gold steps and scored."""

    metrics: FidelityMetrics = Field(description="The step metrics (report.metrics).")
    report: BehaviourReport
    paired: int = Field(description="Gold steps with a prediction.")
    missing: int = Field(description="Gold steps without a prediction (scored as wrong).")
    unmatched: int = Field(description="Predictions of no gold step.")
    not_scored: int = Field(description="Gold steps outside the OPeRA action space.")
    from_model_output: int = Field(
        description="Paired predictions read from the raw reply (no parsed action given)."
    )
    format_errors: int = Field(
        description="Paired predictions without a readable action (scored as wrong)."
    )
    reward: RewardMeans | None = Field(
        None, description="Over the paired predictions with a model_output; None if none has."
    )


class PairedPredictions(BaseModel):
    """A prediction file paired with gold steps: one :class:`Prediction` per scorable step."""

    predictions: list[Prediction] = Field(
        description="In the gold file's order; a step nobody predicted has missing=True."
    )
    unmatched: int = Field(description="Prediction lines of no gold step.")
    not_scored: int = Field(description="Gold steps outside the OPeRA action space.")
    from_model_output: int = Field(description="Paired lines read from their raw reply.")


#: Where a prediction line may carry its parsed action (an evaluation's, a step record's).
_ACTION_FIELDS = ("predicted", "action")


@dataclass
class _Line:
    """What one prediction line says: Prediction fields, the raw reply, how it was read."""

    decided: dict[str, Any]
    reply: str | None
    from_model_output: bool


def _text(line: Mapping[str, Any], key: str) -> str | None:
    value = line.get(key)
    return value if isinstance(value, str) else None


def _read_line(line: Mapping[str, Any]) -> _Line:
    """A prediction line read as the evaluation would have recorded it.

    The parsed action comes first; without one, the raw reply is read with the policy's
    parser, unless the line carries its writer's verdict on it (``format_error``, as an
    evaluation's and a rollout's lines do). ``format_ok`` is the line's, else the format
    check of the reply, else False.
    """
    reply = _text(line, "model_output")
    format_ok = line.get("format_ok")
    decided: dict[str, Any] = {
        "model_output": reply or "",
        "rationale": _text(line, "rationale") or "",
        "format_ok": format_ok
        if isinstance(format_ok, bool)
        else reply is not None and shop_r1_object(reply) is not None,
    }
    action = next((line[k] for k in _ACTION_FIELDS if isinstance(line.get(k), Mapping)), None)
    if action is not None:
        return _Line(
            decided={**decided, "predicted": dict(action), "parsed": True},
            reply=reply,
            from_model_output=False,
        )
    verdict = _text(line, "format_error")
    if reply is not None and verdict is None:
        parsed = parse_output(reply, "opera")
        decided |= {
            "predicted": parsed.opera_action,
            "parsed": not parsed.error,
            "format_error": parsed.error,
            "rationale": decided["rationale"] or parsed.rationale,
        }
        return _Line(decided=decided, reply=reply, from_model_output=True)
    if verdict is None:
        verdict = "no action (predicted or action) and no model_output"
    decided |= {"predicted": None, "parsed": not verdict, "format_error": verdict}
    return _Line(decided=decided, reply=reply, from_model_output=False)


def _prediction_lines(path: Path) -> dict[tuple[str, int], _Line]:
    """The lines of a prediction file by (session_id, step); the last line of a key wins."""
    if not path.is_file():
        raise ReplayError(f"{path}: no such file")
    try:
        lines = read_jsonl(path)
    except json.JSONDecodeError as err:
        raise ReplayError(f"{path}: not JSON lines: {err}") from err
    read: dict[tuple[str, int], _Line] = {}
    for number, line in enumerate(lines, 1):
        if not isinstance(line, dict) or "session_id" not in line or "step" not in line:
            raise ReplayError(f"{path}:{number}: needs session_id and step")
        read[(str(line["session_id"]), int(line["step"]))] = _read_line(line)
    fields = (*_ACTION_FIELDS, "model_output")
    if read and not any(k in line for line in lines for k in fields):
        raise ReplayError(
            f"{path}: no line has `predicted`, `action` or `model_output`, so there is "
            "nothing to score: give the parsed action in OPeRA form or the model's raw reply"
        )
    return read


def pair_predictions(
    predictions_path: Path,
    gold_path: Path,
    reward_config: AnyRewardConfig | None = None,
    rules: RuleSet = "opera",
) -> PairedPredictions:
    """Pair prediction lines with gold steps by ``(session_id, step)`` and compare each pair.

    A pair whose line has the raw ``model_output`` is also given its reward. This is the
    per-step view behind :func:`score`, for reports that break results down further.

    Raises:
        ReplayError: a file cannot be read, no line carries anything to score, or no line
            predicts a scorable gold step.
    """
    config = reward_config or RewardConfig()
    lines = _prediction_lines(predictions_path)
    predictions: list[Prediction] = []
    not_scored = from_model_output = 0
    gold_keys = set()
    for step in load_steps(gold_path):
        key = (step.session_id, step.step)
        gold_keys.add(key)
        if gold_action(step) is None:
            not_scored += 1
            continue
        line = lines.get(key)
        if line is None:
            missing = _prediction(step, config, rules, None, predicted=None, missing=True)
            predictions.append(missing)
        else:
            predictions.append(_prediction(step, config, rules, line.reply, **line.decided))
            from_model_output += line.from_model_output
    if all(p.missing for p in predictions):
        raise ReplayError(
            f"no prediction in {predictions_path} is of a scorable step of {gold_path} "
            "(pairs are matched by session_id and step)"
        )
    return PairedPredictions(
        predictions=predictions,
        unmatched=len(lines.keys() - gold_keys),
        not_scored=not_scored,
        from_model_output=from_model_output,
    )


def score(
    predictions_path: Path,
    gold_path: Path,
    reward_config: AnyRewardConfig | None = None,
    rules: RuleSet = "opera",
) -> ScoreResult:
    """Pair predictions with gold steps by ``(session_id, step)`` and compute the metrics.

    A prediction line carrying the raw ``model_output`` is also given its reward (Shop-R1's
    unless ``reward_config`` is Customer-R1's); one carrying only that reply is read with the
    policy's parser first (see the module docstring).
    """
    config = reward_config or RewardConfig()
    paired = pair_predictions(predictions_path, gold_path, config, rules)
    given = [p for p in paired.predictions if not p.missing]
    rewards = [p.reward for p in given if p.reward is not None]
    report = behaviour_report(outcomes(paired.predictions), rules)
    return ScoreResult(
        metrics=report.metrics,
        report=report,
        paired=len(given),
        missing=len(paired.predictions) - len(given),
        unmatched=paired.unmatched,
        not_scored=paired.not_scored,
        from_model_output=paired.from_model_output,
        format_errors=sum(not p.parsed for p in given),
        reward=_means(rewards, config) if rewards else None,
    )
