"""Multi-agent judging of recorded episodes: MAJ-EVAL (Chen et al., arXiv:2507.21028).

MAJ-EVAL replaces one LLM judge by a panel of evaluator personas grounded in documents about
the task (research papers, guidelines, interview notes), in two steps, both done here through
an OpenAI-compatible chat endpoint (:class:`~webserv.policy.vlm.ChatModel`):

1. **Personas from documents** (:func:`build_personas`). Per document, the model lists the
   *stakeholders* whose judgement matters and the *evaluative dimensions* each judges on,
   with a quote as evidence; with several documents one more call merges stakeholders that
   are the same people and dimensions that judge the same thing (the paper clusters
   semantically similar stakeholders). Then one persona per (stakeholder, dimension), with
   the paper's five attributes: *demographic information*, *evaluative dimension*,
   *specialty*, *psychological traits* and *social relationships* (plus a name and the
   stakeholder group, which identify it). The stakeholder and the dimension are copied from
   the extraction, not re-generated, so a persona cannot drift off its dimension. A
   :class:`PersonaSet` is saved as JSON and can be written by hand instead.
2. **Judging an episode** (:class:`MajEvaluator`). An episode is the task, the trajectory
   (each step's page cut to a token budget, its rationale, action and errors) and the
   outcome (how it ended, the answer, the task score). Every persona rates it on its own
   dimension, independently (no persona sees another's rating). Then each stakeholder group
   debates: in round *r* every persona of the group sees the others' latest ratings and
   reasons (those standing after round *r* - 1) and keeps or revises its own. A coordinator
   ends a group's debate before a round when the group has *converged*: the spread (highest
   minus lowest) of its latest ratings is at most ``converge_spread``; or when fewer than
   two of its personas have a rating (nothing to debate); else after ``rounds`` rounds. An
   aggregator call sees every final rating and reason, by group, with the task and outcome,
   and writes one combined score and a summary; the plain mean of the final ratings is
   computed beside it so the aggregate can be checked.

Interpretations, where the paper leaves room: the paper's in-group debate is free-form,
moderated by a coordinator agent that steers it to unresolved disagreements and ends it;
here it runs in synchronous rounds, every persona of an unconverged group speaking once per
round, and the coordinator is the convergence rule above, not a model call. That makes the
cost exact and bounded: an episode judged by ``P`` personas takes at most
``P + rounds * D + 1`` calls, ``D`` being the personas in groups of two or more
(:func:`max_calls`); building personas from ``N`` documents takes ``N`` calls (+1 to merge
when ``N > 1``) plus one per persona. The paper rates generated text; here the rated thing
is an agent's episode on a web site.

Failures: an endpoint that fails (after the client's retries) raises
:class:`~webserv.policy.vlm.ModelError`, which stops the judging (a dead endpoint would turn
every rating into a non-rating). A reply that cannot be read as ``{"score", "reason"}`` on
the scale is recorded, not raised: in the independent round the persona is *not rated*
(``score`` None, ``error`` saying why, with the reply's start); in a debate round it keeps
its previous rating; an unreadable aggregate leaves ``aggregate.score`` None. Means and the
convergence rule skip missing ratings. While building personas, an unreadable reply raises
:class:`JudgingError`, since a persona set with holes would be saved and reused.

Agreement with human ratings (:func:`agreement`) is Spearman's rho
(``scipy.stats.spearmanr``) over the episodes a human rated, for the aggregate, the mean and
each persona, with its ``n`` and p-value.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from webserv.rollout.cli import (
    ApiKey,
    JsonMode,
    MaxTokens,
    Temperature,
    endpoint_config,
    fail,
)

# The model client, the step records, the lenient reader and the page cutter all live under
# webserv.policy, whose package import loads openai (and scipy is heavy too); they are
# imported where they are used, so registering this module's commands keeps `webserv` quick.
if TYPE_CHECKING:
    from rich.console import Console

    from webserv.policy.vlm import ChatModel, ModelConfig
    from webserv.rollout.records import EpisodeRecord, StepRecord
    from webserv.tasks.evaluators import EvalResult

#: What the panel judges, unless a persona set says otherwise.
DEFAULT_SUBJECT = (
    "a web agent's episode on a shopping site: the task it was given, the pages it saw, "
    "what it did and why, and how the episode ended"
)


class JudgingError(ValueError):
    """Input that cannot be judged (a missing or malformed file, an unusable model reply
    while building personas); the message says which and why."""


T = TypeVar("T")


async def _together(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run calls concurrently; if any raised, raise the first error once all have ended, so
    no call is left running behind the caller (as a bare gather would on a failure)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return [r for r in results if not isinstance(r, BaseException)]


# ---------------------------------------------------------------------------- personas


class Dimension(BaseModel):
    """One thing a stakeholder judges on."""

    name: str = Field(min_length=1)
    description: str = ""
    evidence: str = Field("", description="What in the documents it rests on (a short quote).")


class Stakeholder(BaseModel):
    """A group of people whose judgement matters, and the dimensions they judge on."""

    name: str = Field(min_length=1)
    description: str = ""
    dimensions: list[Dimension] = Field(default_factory=list)


class EvaluatorPersona(BaseModel):
    """One evaluator: the paper's five attributes, identified by a name and a group."""

    model_config = ConfigDict(extra="forbid")  # a misspelt attribute in a hand-written file

    name: str = Field(min_length=1, description="Unique within the panel.")
    stakeholder: str = Field(min_length=1, description="The group it speaks for (debates in).")
    dimension: str = Field(min_length=1, description="The evaluative dimension it rates on.")
    dimension_description: str = ""
    demographics: str = Field("", description="Demographic information: age, work, background.")
    specialty: str = Field("", description="The expertise it judges from.")
    psychological_traits: str = ""
    social_relationships: str = ""


class PersonaSet(BaseModel):
    """A panel, as built from documents (or written by hand), saved as JSON for reuse."""

    subject: str = Field(DEFAULT_SUBJECT, description="What the panel judges.")
    documents: list[str] = Field(default_factory=list, description="Where it was built from.")
    built_with: str | None = Field(None, description="The model that built it; None: by hand.")
    calls: int = Field(0, description="Model calls the building took.")
    stakeholders: list[Stakeholder] = Field(default_factory=list)
    personas: list[EvaluatorPersona] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> PersonaSet:
        names = [p.name for p in self.personas]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"persona names must be unique; repeated: {', '.join(repeated)}")
        return self

    def groups(self) -> dict[str, list[EvaluatorPersona]]:
        """The personas of each stakeholder group, groups in order of first appearance."""
        grouped: dict[str, list[EvaluatorPersona]] = {}
        for persona in self.personas:
            grouped.setdefault(persona.stakeholder, []).append(persona)
        return grouped


def save_personas(personas: PersonaSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(personas.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_personas(path: Path) -> PersonaSet:
    """A :class:`PersonaSet` file, or a bare JSON list of personas (the default subject)."""
    data = _read_json(path, "a personas file")
    if isinstance(data, list):
        data = {"personas": data}
    try:
        return PersonaSet.model_validate(data)
    except ValidationError as err:
        raise JudgingError(f"{path}: not a personas file: {err}") from err


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise JudgingError(f"{path}: no such file ({what})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise JudgingError(f"{path}: not JSON: {err}") from err


# ------------------------------------------------------------------ reading model replies


class UnreadableReply(ValueError):
    """A model reply without the JSON object asked for."""


def _excerpt(text: str) -> str:
    return repr(text[:160] + ("..." if len(text) > 160 else ""))


def reply_object(text: str, key: str) -> dict[str, Any]:
    """The last JSON object of a reply that has ``key`` (keys lower-cased), read leniently
    (fences, prose, a ``<think>`` block, single quotes, trailing commas are forgiven)."""
    from webserv.policy.parse import json_objects

    found = [{str(k).lower(): v for k, v in obj.items()} for obj in json_objects(text or "")]
    found = [obj for obj in found if key in obj]
    if not found:
        raise UnreadableReply(f'no JSON object with "{key}" in the reply {_excerpt(text or "")}')
    return found[-1]


def read_score(text: str, note: str, low: int, high: int) -> tuple[float, str]:
    """A reply's ``score`` (a number in [low, high]) and its ``note`` text (reason, summary)."""
    obj = reply_object(text, "score")
    value = obj["score"]
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnreadableReply(f"the score {value!r} is not a number; reply {_excerpt(text)}")
    if not low <= value <= high:
        raise UnreadableReply(f"the score {value:g} is outside the scale {low}-{high}")
    explanation = obj.get(note, "")
    if not isinstance(explanation, str):
        raise UnreadableReply(f'"{note}" must be text, got {explanation!r}')
    return float(value), explanation.strip()


# ------------------------------------------------------------- building personas


class BuildConfig(BaseModel):
    """How personas are built from documents."""

    subject: str = DEFAULT_SUBJECT
    doc_tokens: int = Field(6000, ge=200, description="Each document is cut to this budget.")
    max_stakeholders: int = Field(4, ge=1, description="Groups kept, in the model's order.")
    max_dimensions: int = Field(3, ge=1, description="Dimensions (personas) kept per group.")


EXTRACT_SYSTEM = "You read documents to find out who judges {subject}, and on what."

EXTRACT_PROMPT = """Document "{name}":
---
{text}
---
List the stakeholders this document shows to have a stake in {subject}: groups of people
whose judgement of it matters. For each, list the evaluative dimensions the document says
they judge on, each with a one-sentence description and a short quote from the document as
evidence. Use only what the document supports.
Reply with one JSON object and nothing else:
{{"stakeholders": [{{"name": "...", "description": "...", "dimensions": [{{"name": "...",
"description": "...", "evidence": "..."}}]}}]}}"""

MERGE_PROMPT = """Stakeholders extracted from {count} documents, as JSON:
{stakeholders}

Merge stakeholders that are the same group of people under different names, and within a
stakeholder merge dimensions that judge the same thing (keep their evidence). Keep distinct
groups and dimensions distinct, and drop nothing else.
Reply with one JSON object of the same form and nothing else: {{"stakeholders": [...]}}"""

PERSONA_PROMPT = """Create one evaluator persona: a person of the stakeholder group
"{stakeholder}" ({stakeholder_description}) who judges {subject} on one dimension,
"{dimension}": {dimension_description}
Give the persona these attributes, consistent with the group and the dimension, concrete
and brief (one or two sentences each).
Reply with one JSON object and nothing else:
{{"name": "<a full name>", "demographics": "<age, occupation, background>",
"specialty": "<the expertise they judge from>",
"psychological_traits": "<temperament; what they are strict or lenient about>",
"social_relationships": "<who they deal with and answer to, as it bears on their judgement>"}}"""


class _PersonaAttributes(BaseModel):
    """What the model writes of a persona; group and dimension come from the extraction."""

    name: str = Field(min_length=1)
    demographics: str = ""
    specialty: str = ""
    psychological_traits: str = ""
    social_relationships: str = ""


def load_documents(paths: Sequence[Path]) -> dict[str, str]:
    """The text of each document (text or markdown), by file name."""
    if not paths:
        raise JudgingError("no documents given")
    documents: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise JudgingError(f"{path}: no such document")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise JudgingError(f"{path}: not a UTF-8 text document: {err}") from err
        if not text.strip():
            raise JudgingError(f"{path}: the document is empty")
        if path.name in documents:
            raise JudgingError(f"{path}: another document is named {path.name} too")
        documents[path.name] = text
    return documents


async def _ask_for(model: ChatModel, system: str, prompt: str, key: str) -> dict[str, Any]:
    """One call; the reply's object with ``key``, or a JudgingError quoting the reply."""
    text, _ = await model.complete(
        [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    )
    try:
        return reply_object(text, key)
    except UnreadableReply as err:
        raise JudgingError(f"building personas: {err}") from err


async def _stakeholders(
    model: ChatModel, system: str, prompt: str, where: str
) -> list[Stakeholder]:
    found = await _ask_for(model, system, prompt, "stakeholders")
    try:
        return [Stakeholder.model_validate(s) for s in found["stakeholders"]]
    except (ValidationError, TypeError) as err:
        raise JudgingError(f"building personas: {where} gave unusable stakeholders: {err}") from err


async def extract_stakeholders(
    model: ChatModel, documents: Mapping[str, str], config: BuildConfig
) -> tuple[list[Stakeholder], int]:
    """Stakeholders and dimensions from every document (merged when there are several),
    cut to the configured numbers; and the calls it took."""
    from webserv.policy.prompt import cut_page

    system = EXTRACT_SYSTEM.format(subject=config.subject)
    per_document = await _together(
        _stakeholders(
            model,
            system,
            EXTRACT_PROMPT.format(
                name=name, text=cut_page(text, config.doc_tokens), subject=config.subject
            ),
            f"document {name}",
        )
        for name, text in documents.items()
    )
    found = [s for listed in per_document for s in listed]
    calls = len(documents)
    if len(documents) > 1:
        listed = json.dumps({"stakeholders": [s.model_dump() for s in found]}, indent=1)
        prompt = MERGE_PROMPT.format(count=len(documents), stakeholders=listed)
        found = await _stakeholders(model, system, prompt, "merging")
        calls += 1
    kept = [
        s.model_copy(update={"dimensions": s.dimensions[: config.max_dimensions]})
        for s in found
        if s.dimensions
    ][: config.max_stakeholders]
    if not kept:
        raise JudgingError("building personas: the model found no stakeholder with a dimension")
    return kept, calls


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``(3)``... when the model reused one."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    taken.add(candidate)
    return candidate


async def _persona(
    model: ChatModel, stakeholder: Stakeholder, dimension: Dimension, subject: str
) -> tuple[_PersonaAttributes, Stakeholder, Dimension]:
    prompt = PERSONA_PROMPT.format(
        stakeholder=stakeholder.name,
        stakeholder_description=stakeholder.description or "no description",
        dimension=dimension.name,
        dimension_description=dimension.description or "",
        subject=subject,
    )
    system = f"You write evaluator personas for judging {subject}."
    found = await _ask_for(model, system, prompt, "name")
    try:
        return _PersonaAttributes.model_validate(found), stakeholder, dimension
    except ValidationError as err:
        raise JudgingError(f"building personas: unusable persona attributes: {err}") from err


async def build_personas(
    model: ChatModel, paths: Sequence[Path], config: BuildConfig | None = None
) -> PersonaSet:
    """MAJ-EVAL's first step: stakeholders and dimensions from the documents, then one
    persona per (stakeholder, dimension)."""
    config = config or BuildConfig()
    documents = load_documents(paths)
    stakeholders, calls = await extract_stakeholders(model, documents, config)
    built = await _together(
        _persona(model, stakeholder, dimension, config.subject)
        for stakeholder in stakeholders
        for dimension in stakeholder.dimensions
    )
    taken: set[str] = set()
    personas = [
        EvaluatorPersona(
            name=_unique(attributes.name.strip(), taken),
            stakeholder=stakeholder.name,
            dimension=dimension.name,
            dimension_description=dimension.description,
            **attributes.model_dump(exclude={"name"}),
        )
        for attributes, stakeholder, dimension in built
    ]
    return PersonaSet(
        subject=config.subject,
        documents=[str(p) for p in paths],
        built_with=model.config.model,
        calls=calls + len(personas),
        stakeholders=stakeholders,
        personas=personas,
    )


# ---------------------------------------------------------------------------- episodes


@dataclass(frozen=True)
class Episode:
    """One recorded episode: its steps in order and, when the run wrote one, its record."""

    session_id: str
    steps: Sequence[StepRecord]
    record: EpisodeRecord | None = None

    @property
    def intent(self) -> str:
        return self.steps[0].intent

    @property
    def task_id(self) -> int | str:
        return self.steps[0].task_id

    @classmethod
    def of(cls, steps: Sequence[StepRecord], record: EpisodeRecord | None = None) -> Episode:
        """An episode from its step records (any order) and optional episode record."""
        if not steps:
            raise JudgingError("an episode needs at least one step")
        ordered = sorted(steps, key=lambda s: s.step)
        if len({s.session_id for s in ordered}) > 1:
            raise JudgingError("the steps of an episode must share one session_id")
        return cls(session_id=ordered[0].session_id, steps=ordered, record=record)


def _episode_records(path: Path) -> dict[str, EpisodeRecord]:
    from webserv.rollout.records import EpisodeRecord

    records: dict[str, EpisodeRecord] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = EpisodeRecord.model_validate_json(line)
        except ValidationError as err:
            raise JudgingError(f"{path}:{number}: not an episode record: {err}") from err
        records[record.session_id] = record
    return records


def load_episodes(run: Path) -> list[Episode]:
    """The episodes of a run directory (``steps.jsonl``, and ``episodes.jsonl`` when there
    is one) or of a steps JSONL file (outcomes then read from the steps alone)."""
    from webserv.behaviour.replay import ReplayError, load_steps, sessions

    if not run.exists():
        raise JudgingError(f"{run}: no such run directory or steps file")
    steps_path, records_path = run, None
    if run.is_dir():
        steps_path, records_path = run / "steps.jsonl", run / "episodes.jsonl"
    try:
        steps = load_steps(steps_path)
    except ReplayError as err:
        raise JudgingError(str(err)) from err
    records = _episode_records(records_path) if records_path and records_path.is_file() else {}
    return [
        Episode(session_id=sid, steps=rows, record=records.get(sid))
        for sid, rows in sessions(steps).items()
    ]


def _action_text(step: StepRecord) -> str:
    if step.action is not None:
        return json.dumps(step.action, ensure_ascii=False)
    return step.env_action or "none"


def _step_lines(step: StepRecord, page_tokens: int) -> list[str]:
    from webserv.policy.prompt import cut_page  # the policy prompt's cutter: first lines that fit

    lines = [f"Step {step.step + 1} on {step.title or 'an untitled page'} ({step.url})"]
    if page_tokens > 0 and step.observation_text.strip():
        lines.append("  Page:")
        lines += [
            "    " + line for line in cut_page(step.observation_text, page_tokens).splitlines()
        ]
    lines.append(f"  Rationale: {step.rationale or '(none given)'}")
    lines.append(f"  Action: {_action_text(step)}")
    if step.format_error:
        lines.append(f"  Reply not usable: {step.format_error}")
    if step.action_error:
        lines.append(f"  Action failed: {step.action_error}")
    return lines


def outcome_text(episode: Episode, show_score: bool = True) -> str:
    """How the episode ended, its answer and (``show_score``) its task score, in a line."""
    record, last = episode.record, episode.steps[-1]
    if record is not None and record.error:
        ended = f"it ended abnormally ({record.error})"
    elif record.terminated if record is not None else last.terminated:
        ended = "the agent stopped"
    elif record.truncated if record is not None else last.truncated:
        ended = "it was cut off at the step limit"
    else:
        ended = "the recording ends without a stop"
    parts = [f"Outcome: {ended} after {len(episode.steps)} steps"]
    answer = record.answer if record is not None else (last.action or {}).get("answer")
    if answer:
        parts.append(f'answer "{answer}"')
    if show_score:
        if record is None:
            parts.append("task score not recorded")
        elif record.score is None:
            parts.append("task score: not evaluable")
        else:
            parts.append(f"task score {record.score:g} of 1")
    return "; ".join(parts) + "."


def episode_text(episode: Episode, page_tokens: int, show_score: bool = True) -> str:
    """The episode as the panel reads it: task, steps (pages cut to ``page_tokens``
    tokens each; 0 leaves pages out), outcome."""
    lines = [f"Task: {episode.intent or '(none given: a free shopping session)'}"]
    if episode.steps[0].persona:
        lines.append(f"The agent shopped as: {episode.steps[0].persona}")
    lines.append(f"Trajectory ({len(episode.steps)} steps):")
    for step in episode.steps:
        lines += _step_lines(step, page_tokens)
    lines.append(outcome_text(episode, show_score))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- judging


class JudgeConfig(BaseModel):
    """How the panel rates, debates and aggregates."""

    scale_min: int = Field(1, description="The worst rating.")
    scale_max: int = Field(5, description="The best rating.")
    rounds: int = Field(2, ge=0, description="Debate rounds at most, per group.")
    converge_spread: float = Field(
        1.0, ge=0, description="A group has converged when its max - min is at most this."
    )
    page_tokens: int = Field(300, ge=0, description="Tokens of each page shown; 0: no pages.")
    show_task_score: bool = Field(True, description="Show the panel the episode's task score.")
    reward_from: Literal["aggregate", "mean"] = Field(
        "aggregate", description="Which rating becomes the [0, 1] score of an episode."
    )
    concurrency: int = Field(4, ge=1, description="Model calls in flight at once.")

    @model_validator(mode="after")
    def _scale(self) -> JudgeConfig:
        if self.scale_max <= self.scale_min:
            raise ValueError("the scale's maximum must be above its minimum")
        return self


class PersonaRating(BaseModel):
    """One call's rating by one persona: round 0 is the independent one."""

    persona: str
    round: int
    score: float | None = Field(description="None: the reply could not be read.")
    reason: str = ""
    error: str = Field("", description="Why there is no (new) score.")
    tokens: int = Field(0, description="Total tokens the endpoint reported for the call.")


class GroupDebate(BaseModel):
    """One stakeholder group's ratings, round by round, and why its debate stopped."""

    stakeholder: str
    personas: list[str]
    rounds: list[list[PersonaRating]] = Field(description="rounds[0]: independent ratings.")
    final: list[PersonaRating] = Field(
        description="Each persona's latest readable rating (score None: it never gave one)."
    )
    stop: Literal["converged", "fewer than two ratings", "round limit"]
    spread: float | None = Field(description="max - min of the final ratings.")

    @property
    def debate_rounds(self) -> int:
        return len(self.rounds) - 1


class Aggregate(BaseModel):
    """The aggregator's combined rating and summary."""

    score: float | None
    summary: str = ""
    error: str = ""
    tokens: int = 0


class EpisodeJudgement(BaseModel):
    """The panel's judgement of one episode."""

    session_id: str
    task_id: int | str
    intent: str
    task_score: float | None = Field(description="The episode's recorded task score.")
    groups: list[GroupDebate]
    final_ratings: dict[str, float | None] = Field(description="Per persona; None: not rated.")
    mean: float | None = Field(description="Plain mean of the final ratings that exist.")
    aggregate: Aggregate | None = Field(description="None: nothing rated, not asked.")
    score: float | None = Field(description="reward_from's rating mapped onto [0, 1].")
    calls: int
    tokens: int

    def checks(self, config: JudgeConfig) -> list[str]:
        """One line per final rating, the mean and the aggregate, as evaluators report."""
        scale = f"of {config.scale_min}-{config.scale_max}"
        lines = [
            f"maj-eval {r.persona}: {_fmt(r.score)} {scale}"
            if r.score is not None
            else f"maj-eval {r.persona}: not rated ({r.error})"
            for group in self.groups
            for r in group.final
        ]
        lines.append(f"maj-eval mean: {_fmt(self.mean)} {scale}")
        if self.aggregate is not None:
            note = f" ({self.aggregate.error})" if self.aggregate.error else ""
            lines.append(f"maj-eval aggregate: {_fmt(self.aggregate.score)} {scale}{note}")
        return lines


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}".rstrip("0").rstrip(".")


def max_calls(personas: PersonaSet, config: JudgeConfig) -> int:
    """The most calls one episode can take: every persona once, every persona of a group of
    two or more once per debate round, and the aggregator."""
    debating = sum(len(g) for g in personas.groups().values() if len(g) > 1)
    return len(personas.personas) + config.rounds * debating + 1


def persona_prompt(persona: EvaluatorPersona, subject: str) -> str:
    """The system message that makes the model this persona."""
    lines = [f"You are {persona.name}, one of a panel of evaluators of {subject}."]
    for label, value in (
        ("About you", persona.demographics),
        ("Your specialty", persona.specialty),
        ("Your temperament", persona.psychological_traits),
        ("Your relationships", persona.social_relationships),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines.append(f"You speak for this stakeholder group: {persona.stakeholder}.")
    about = f": {persona.dimension_description}" if persona.dimension_description else "."
    lines.append(f'You judge on one dimension, "{persona.dimension}"{about}')
    return "\n".join(lines)


RATE_PROMPT = """Rate the episode below on your dimension only, from your own perspective, on a
scale from {low} (worst) to {high} (best).

{episode}

Reply with one JSON object and nothing else:
{{"score": <a number from {low} to {high}>, "reason": "<at most three sentences>"}}"""

DEBATE_PROMPT = """You rated the episode below, and so did the others who speak for
{stakeholder}. This is round {round} of your discussion: read their latest ratings and
reasons, weigh them from your own perspective and dimension, then keep or revise your rating
on the scale from {low} (worst) to {high} (best).

{episode}

Your latest rating: {own}
The others' latest ratings:
{others}

Reply with one JSON object and nothing else:
{{"score": <a number from {low} to {high}>, "reason": "<at most three sentences; say what, if
anything, changed your mind>"}}"""

AGGREGATE_SYSTEM = "You combine a panel's ratings of {subject} into one overall judgement."

AGGREGATE_PROMPT = """Task: {intent}
{outcome}

The panel's final ratings, from {low} (worst) to {high} (best), by stakeholder group:
{ratings}

Combine them into one overall rating on the same scale, weighing every group's view, and
summarise the main points each group made.
Reply with one JSON object and nothing else:
{{"score": <a number from {low} to {high}>, "summary": "<one short paragraph>"}}"""


def _rating_line(persona: EvaluatorPersona, rating: PersonaRating | None) -> str:
    if rating is None:
        return f"- {persona.name} ({persona.dimension}): no rating yet"
    return f"- {persona.name} ({persona.dimension}): {_fmt(rating.score)} - {rating.reason}"


def _spread(ratings: Iterable[PersonaRating]) -> float | None:
    scores = [r.score for r in ratings if r.score is not None]
    return max(scores) - min(scores) if scores else None


class MajEvaluator:
    """A MAJ-EVAL panel on a chat endpoint: judges episodes, and scores them as an evaluator.

    ``judge`` gives the whole :class:`EpisodeJudgement`; ``evaluate_episode`` gives what an
    evaluator gives (:class:`~webserv.tasks.evaluators.EvalResult`): a score in [0, 1]
    usable as a reward, or None (not evaluable) when the endpoint fails or nothing was rated.
    """

    def __init__(
        self, model: ChatModel, personas: PersonaSet, config: JudgeConfig | None = None
    ) -> None:
        self.model = model
        self.personas = personas
        self.config = config or JudgeConfig()
        self._slots = asyncio.Semaphore(self.config.concurrency)

    async def _ask(self, system: str, prompt: str) -> tuple[str, int]:
        async with self._slots:
            text, usage = await self.model.complete(
                [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
            )
        return text, usage.total_tokens

    async def _rate(self, persona: EvaluatorPersona, prompt: str, round_: int) -> PersonaRating:
        """One persona's call; an unreadable reply is a rating without a score."""
        text, tokens = await self._ask(persona_prompt(persona, self.personas.subject), prompt)
        low, high = self.config.scale_min, self.config.scale_max
        try:
            score, reason = read_score(text, "reason", low, high)
        except UnreadableReply as err:
            return PersonaRating(
                persona=persona.name, round=round_, score=None, error=str(err), tokens=tokens
            )
        return PersonaRating(
            persona=persona.name, round=round_, score=score, reason=reason, tokens=tokens
        )

    def _debate_prompt(
        self,
        persona: EvaluatorPersona,
        members: Sequence[EvaluatorPersona],
        latest: Mapping[str, PersonaRating],
        text: str,
        round_: int,
    ) -> str:
        own = latest.get(persona.name)
        others = [_rating_line(p, latest.get(p.name)) for p in members if p is not persona]
        return DEBATE_PROMPT.format(
            stakeholder=persona.stakeholder,
            round=round_,
            low=self.config.scale_min,
            high=self.config.scale_max,
            episode=text,
            own=f"{_fmt(own.score)} - {own.reason}" if own else "none yet (no readable reply)",
            others="\n".join(others),
        )

    def _stop(self, latest: Mapping[str, PersonaRating], debated: int) -> str | None:
        """The coordinator: why the group's debate ends before the next round, if it does."""
        if len(latest) < 2:
            return "fewer than two ratings"
        spread = _spread(latest.values())
        if spread is not None and spread <= self.config.converge_spread:
            return "converged"
        return "round limit" if debated >= self.config.rounds else None

    async def _group(
        self, stakeholder: str, members: Sequence[EvaluatorPersona], text: str
    ) -> GroupDebate:
        """Independent ratings, then rounds of debate until the coordinator stops them."""
        low, high = self.config.scale_min, self.config.scale_max
        prompt = RATE_PROMPT.format(low=low, high=high, episode=text)
        rounds = [await _together(self._rate(p, prompt, 0) for p in members)]
        latest = {r.persona: r for r in rounds[0] if r.score is not None}
        while (stop := self._stop(latest, len(rounds) - 1)) is None:
            number = len(rounds)
            seen = dict(latest)  # every speaker of this round sees the same, previous round
            turn = await _together(
                self._rate(p, self._debate_prompt(p, members, seen, text, number), number)
                for p in members
            )
            rounds.append(turn)
            latest.update({r.persona: r for r in turn if r.score is not None})
        final = [
            latest.get(p.name)
            or PersonaRating(persona=p.name, round=0, score=None, error=rounds[0][i].error)
            for i, p in enumerate(members)
        ]
        return GroupDebate(
            stakeholder=stakeholder,
            personas=[p.name for p in members],
            rounds=rounds,
            final=final,
            stop=stop,
            spread=_spread(final),
        )

    async def _aggregate(self, episode: Episode, groups: Sequence[GroupDebate]) -> Aggregate:
        by_name = {p.name: p for p in self.personas.personas}
        blocks = []
        for group in groups:
            debate = f"{group.debate_rounds} debate round(s), stopped: {group.stop}"
            blocks.append(f"## {group.stakeholder} ({debate})")
            rated = [r for r in group.final if r.score is not None]
            blocks += [_rating_line(by_name[r.persona], r) for r in rated] or ["- no rating"]
        prompt = AGGREGATE_PROMPT.format(
            intent=episode.intent or "(none given: a free shopping session)",
            outcome=outcome_text(episode, self.config.show_task_score),
            low=self.config.scale_min,
            high=self.config.scale_max,
            ratings="\n".join(blocks),
        )
        system = AGGREGATE_SYSTEM.format(subject=self.personas.subject)
        text, tokens = await self._ask(system, prompt)
        low, high = self.config.scale_min, self.config.scale_max
        try:
            score, summary = read_score(text, "summary", low, high)
        except UnreadableReply as err:
            return Aggregate(score=None, error=str(err), tokens=tokens)
        return Aggregate(score=score, summary=summary, tokens=tokens)

    def _unit(self, score: float | None) -> float | None:
        """A rating on the scale as a value in [0, 1]."""
        if score is None:
            return None
        low, high = self.config.scale_min, self.config.scale_max
        return (score - low) / (high - low)

    async def judge(self, episode: Episode) -> EpisodeJudgement:
        """Rate, debate per group, aggregate. Raises ModelError if the endpoint fails."""
        text = episode_text(episode, self.config.page_tokens, self.config.show_task_score)
        groups = await _together(
            self._group(name, members, text) for name, members in self.personas.groups().items()
        )
        final = {r.persona: r.score for g in groups for r in g.final}
        rated = [s for s in final.values() if s is not None]
        mean = statistics.fmean(rated) if rated else None
        aggregate = await self._aggregate(episode, groups) if rated else None
        by_aggregate = aggregate.score if aggregate is not None else None
        chosen = mean if self.config.reward_from == "mean" else by_aggregate
        turns = [r for g in groups for round_ in g.rounds for r in round_]
        return EpisodeJudgement(
            session_id=episode.session_id,
            task_id=episode.task_id,
            intent=episode.intent,
            task_score=episode.record.score if episode.record else None,
            groups=groups,
            final_ratings=final,
            mean=mean,
            aggregate=aggregate,
            score=self._unit(chosen),
            calls=len(turns) + (aggregate is not None),
            tokens=sum(r.tokens for r in turns) + (aggregate.tokens if aggregate else 0),
        )

    async def evaluate_episode(
        self, steps: Sequence[StepRecord], record: EpisodeRecord | None = None
    ) -> EvalResult:
        """The panel's verdict as an evaluator's result (see the class doc)."""
        from webserv.policy.vlm import ModelError
        from webserv.tasks.evaluators import EvalResult

        try:
            judged = await self.judge(Episode.of(steps, record))
        except ModelError as err:
            return EvalResult(score=None, checks=[f"maj-eval: not evaluable ({err})"])
        return EvalResult(score=judged.score, checks=judged.checks(self.config))


# --------------------------------------------------------------- agreement with humans


class Correlation(BaseModel):
    """Spearman's rho between one set of ratings and the human ones."""

    rho: float | None = Field(description="None: fewer than two pairs, or a constant side.")
    p_value: float | None = Field(
        description="Two-sided, against no correlation (scipy's t approximation); None: n < 3."
    )
    n: int = Field(description="Episodes with both ratings.")
    note: str = ""


class Agreement(BaseModel):
    """How the panel's ratings rank the episodes against the humans' ranking."""

    human_rated: int = Field(description="Judged episodes that have a human rating.")
    unmatched: list[str] = Field(description="Human-rated sessions that were not judged.")
    aggregate: Correlation
    mean: Correlation
    per_persona: dict[str, Correlation]


def spearman(pairs: Sequence[tuple[float, float]]) -> Correlation:
    """Spearman's rho of (panel, human) pairs (``scipy.stats.spearmanr``: ties share their
    mean rank), with its two-sided p-value; undefined below two pairs or for a constant side."""
    n = len(pairs)
    if n < 2:
        return Correlation(rho=None, p_value=None, n=n, note="fewer than two episodes")
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if len(set(xs)) < 2 or len(set(ys)) < 2:  # scipy would warn and give nan
        note = "one side rates every episode the same"
        return Correlation(rho=None, p_value=None, n=n, note=note)
    from scipy.stats import spearmanr

    result = spearmanr(xs, ys)
    p_value = float(result.pvalue)  # nan for two pairs: no degrees of freedom left
    return Correlation(
        rho=float(result.statistic), p_value=None if math.isnan(p_value) else p_value, n=n
    )


def load_human_ratings(path: Path) -> dict[str, float]:
    """Human ratings by session: a JSON object ``{session_id: score}``, or JSON lines / a
    JSON list of ``{"session_id": ..., "score": ...}``."""
    if not path.is_file():
        raise JudgingError(f"{path}: no such file (human ratings)")
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise JudgingError(f"{path}: neither JSON nor JSON lines: {err}") from err
    if isinstance(data, list):
        if not all(isinstance(x, dict) and {"session_id", "score"} <= x.keys() for x in data):
            raise JudgingError(f'{path}: every entry needs "session_id" and "score"')
        data = {str(x["session_id"]): x["score"] for x in data}
    if not isinstance(data, dict) or not data:
        raise JudgingError(f"{path}: no ratings (expected {{session_id: score}} or JSON lines)")
    bad = [k for k, v in data.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise JudgingError(f"{path}: the rating of {bad[0]!r} is not a number")
    return {str(k): float(v) for k, v in data.items()}


def _rating_of(persona: str) -> Callable[[EpisodeJudgement], float | None]:
    """The final rating of ``persona`` in a judgement."""
    return lambda judged: judged.final_ratings.get(persona)


def agreement(judged: Sequence[EpisodeJudgement], human: Mapping[str, float]) -> Agreement:
    """Spearman's rho with the human ratings: of the aggregate, the mean and each persona."""
    rated = [j for j in judged if j.session_id in human]

    def pairs(value: Callable[[EpisodeJudgement], float | None]) -> list[tuple[float, float]]:
        found = [(value(j), human[j.session_id]) for j in rated]
        return [(x, y) for x, y in found if x is not None]

    names = list(dict.fromkeys(name for j in judged for name in j.final_ratings))
    judged_ids = {j.session_id for j in judged}
    return Agreement(
        human_rated=len(rated),
        unmatched=sorted(set(human) - judged_ids),
        aggregate=spearman(pairs(lambda j: j.aggregate.score if j.aggregate else None)),
        mean=spearman(pairs(lambda j: j.mean)),
        per_persona={n: spearman(pairs(_rating_of(n))) for n in names},
    )


# ------------------------------------------------------------------------------ a run


class JudgeReport(BaseModel):
    """The panel's judgements of a run's episodes, what they cost, and the human agreement."""

    run: str
    model: str
    config: JudgeConfig
    personas: PersonaSet
    episodes: list[EpisodeJudgement]
    calls: int = Field(description="Model calls the judging took (not the persona building).")
    max_calls_per_episode: int
    tokens: int
    agreement: Agreement | None = None


async def judge_run(
    model: ChatModel,
    personas: PersonaSet,
    episodes: Sequence[Episode],
    config: JudgeConfig,
    human: Mapping[str, float] | None = None,
    run: str = "",
) -> JudgeReport:
    """Judge every episode, one after another (each episode's calls run concurrently)."""
    panel = MajEvaluator(model, personas, config)
    judged = [await panel.judge(episode) for episode in episodes]
    return JudgeReport(
        run=run,
        model=model.config.model,
        config=config,
        personas=personas,
        episodes=judged,
        calls=sum(j.calls for j in judged),
        max_calls_per_episode=max_calls(personas, config),
        tokens=sum(j.tokens for j in judged),
        agreement=agreement(judged, human) if human is not None else None,
    )


# ------------------------------------------------------------------------------ commands

Docs = Annotated[
    list[Path],
    typer.Option("--docs", help="A stakeholder document (text/markdown) to build personas from."),
]
Subject = Annotated[str, typer.Option(help="What the panel judges, as the prompts say it.")]
MaxStakeholders = Annotated[int, typer.Option(min=1, help="Stakeholder groups kept.")]
MaxDimensions = Annotated[int, typer.Option(min=1, help="Dimensions (personas) per group.")]
DocTokens = Annotated[int, typer.Option(min=200, help="Each document is cut to this budget.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Endpoint = Annotated[
    str | None,
    typer.Option(help="OpenAI-compatible base URL of the panel's model, e.g. http://host:8000/v1."),
]
ModelName = Annotated[str, typer.Option(help="Model name the endpoint serves.")]


@dataclass(frozen=True)
class _Panel:
    """Where a command's panel comes from: a personas file, or documents to build it from."""

    personas: PersonaSet | None = None
    docs: Sequence[Path] = ()
    build: BuildConfig | None = None
    save_to: Path | None = None


async def _with_model(config: ModelConfig, work: Callable[[ChatModel], Awaitable[T]]) -> T:
    """``work`` with a client of the endpoint, closed afterwards."""
    from webserv.policy.vlm import ChatModel

    model = ChatModel(config)
    try:
        return await work(model)
    finally:
        await model.close()


async def _panel(model: ChatModel, source: _Panel) -> PersonaSet:
    """The personas given, or built from the documents (and saved at once: they cost calls)."""
    if source.personas is not None:
        return source.personas
    panel = await build_personas(model, source.docs, source.build)
    if source.save_to is not None:
        save_personas(panel, source.save_to)
    return panel


def _run_model(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the model-driven part; an endpoint failure, a bad reply or a file that cannot be
    written exits with its message."""
    from webserv.policy.vlm import ModelError

    try:
        return asyncio.run(coroutine)
    except (ModelError, JudgingError) as err:
        raise fail(str(err)) from err
    except OSError as err:
        raise fail(f"cannot write the personas: {err}") from err


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {path}: {err}") from err


def personas_command(
    docs: Docs = [],  # noqa: B006 - typer reads the default, never mutates it
    out: Path = typer.Option(..., "--out", help="Where the personas JSON is written."),
    endpoint: Endpoint = None,
    model: ModelName = "",
    api_key: ApiKey = "EMPTY",
    subject: Subject = DEFAULT_SUBJECT,
    max_stakeholders: MaxStakeholders = 4,
    max_dimensions: MaxDimensions = 3,
    doc_tokens: DocTokens = 6000,
    temperature: Temperature = 0.0,
    max_tokens: MaxTokens = 1024,
    json_mode: JsonMode = False,
    json_output: JsonOutput = False,
) -> None:
    """Build MAJ-EVAL evaluator personas from stakeholder documents and save them as JSON."""
    config = endpoint_config(
        "the panel", endpoint, model, api_key, temperature, max_tokens, json_mode
    )
    try:
        load_documents(docs)  # a missing or empty document fails before any call
    except JudgingError as err:
        raise fail(str(err)) from err
    build = BuildConfig(
        subject=subject,
        doc_tokens=doc_tokens,
        max_stakeholders=max_stakeholders,
        max_dimensions=max_dimensions,
    )
    source = _Panel(docs=docs, build=build, save_to=out)
    panel = _run_model(_with_model(config, lambda model: _panel(model, source)))
    if json_output:
        typer.echo(panel.model_dump_json(indent=2))
        return
    print_personas(panel)
    typer.echo(f"{panel.calls} model calls; saved to {out}")


# The judge command's own options.
RecordedRun = Annotated[
    Path,
    typer.Argument(
        help="A run directory (steps.jsonl, episodes.jsonl if any) or a steps JSONL file."
    ),
]
PersonasFile = Annotated[
    Path | None,
    typer.Option("--personas", help="A personas JSON file (instead of building from --docs)."),
]
Rounds = Annotated[int, typer.Option("--rounds", min=0, help="Debate rounds at most, per group.")]
Spread = Annotated[
    float,
    typer.Option(
        "--spread", min=0.0, help="A group has converged at this max - min of its ratings."
    ),
]
ScaleMin = Annotated[int, typer.Option("--scale-min", help="The worst rating.")]
ScaleMax = Annotated[int, typer.Option("--scale-max", help="The best rating.")]
PageTokens = Annotated[
    int, typer.Option("--page-tokens", min=0, help="Tokens of each page shown (0: no pages).")
]
JudgedEpisodes = Annotated[int | None, typer.Option(min=1, help="Judge only the first N episodes.")]
HumanRatings = Annotated[
    Path | None,
    typer.Option("--human", help="Human ratings: JSON {session_id: score} or JSON lines."),
]
ReportFile = Annotated[
    Path | None, typer.Option("--out", help="Write the full report (JSON) here.")
]
SavePersonas = Annotated[
    Path | None,
    typer.Option("--save-personas", help="Write the personas built from --docs here."),
]
CallConcurrency = Annotated[int, typer.Option(min=1, help="Model calls in flight at once.")]


def judge_command(
    run: RecordedRun,
    docs: Docs = [],  # noqa: B006 - typer reads the default, never mutates it
    personas: PersonasFile = None,
    endpoint: Endpoint = None,
    model: ModelName = "",
    api_key: ApiKey = "EMPTY",
    rounds: Rounds = 2,
    spread: Spread = 1.0,
    scale_min: ScaleMin = 1,
    scale_max: ScaleMax = 5,
    page_tokens: PageTokens = 300,
    sessions: JudgedEpisodes = None,
    human: HumanRatings = None,
    out: ReportFile = None,
    save_personas_to: SavePersonas = None,
    subject: Subject = DEFAULT_SUBJECT,
    max_stakeholders: MaxStakeholders = 4,
    max_dimensions: MaxDimensions = 3,
    doc_tokens: DocTokens = 6000,
    temperature: Temperature = 0.0,
    max_tokens: MaxTokens = 1024,
    json_mode: JsonMode = False,
    concurrency: CallConcurrency = 4,
    json_output: JsonOutput = False,
) -> None:
    """Judge recorded episodes with a MAJ-EVAL panel: rate, debate per group, aggregate."""
    if bool(docs) == (personas is not None):
        raise fail("give either --docs (to build personas) or --personas (a personas file)")
    config = endpoint_config(
        "the panel", endpoint, model, api_key, temperature, max_tokens, json_mode
    )
    judging = _judge_config(scale_min, scale_max, rounds, spread, page_tokens, concurrency)
    build = BuildConfig(
        subject=subject,
        doc_tokens=doc_tokens,
        max_stakeholders=max_stakeholders,
        max_dimensions=max_dimensions,
    )
    try:  # every input is checked before the first call
        episodes = load_episodes(run)[:sessions]
        ratings = _human_for(human, episodes)
        source = _panel_source(personas, docs, build, save_personas_to)
    except JudgingError as err:
        raise fail(str(err)) from err

    async def judge(model: ChatModel) -> JudgeReport:
        panel = await _panel(model, source)
        return await judge_run(model, panel, episodes, judging, ratings, str(run))

    report = _run_model(_with_model(config, judge))
    _show_report(report, out, json_output)


def _judge_config(
    scale_min: int, scale_max: int, rounds: int, spread: float, page_tokens: int, concurrency: int
) -> JudgeConfig:
    """How the panel judges; a scale whose maximum is not above its minimum ends the command
    (exit 2)."""
    try:
        return JudgeConfig(
            scale_min=scale_min,
            scale_max=scale_max,
            rounds=rounds,
            converge_spread=spread,
            page_tokens=page_tokens,
            concurrency=concurrency,
        )
    except ValidationError as err:
        raise fail(f"the scale: {err.errors()[0]['msg']}") from err


def _panel_source(
    personas: Path | None, docs: Sequence[Path], build: BuildConfig, save_to: Path | None
) -> _Panel:
    """Where the panel comes from: the personas file (read now), else the documents to build
    it from (checked now); an unusable one raises :class:`JudgingError`."""
    if personas is not None:
        return _Panel(personas=load_personas(personas))
    load_documents(docs)
    return _Panel(docs=docs, build=build, save_to=save_to)


def _show_report(report: JudgeReport, out: Path | None, as_json: bool) -> None:
    """Write the report to ``out``, if given; print it as JSON or as tables."""
    if out is not None:
        _write(out, report.model_dump_json(indent=2) + "\n")
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    print_report(report)
    if out is not None:
        typer.echo(f"report written to {out}")


def _human_for(path: Path | None, episodes: Sequence[Episode]) -> dict[str, float] | None:
    """The human ratings, refused when none of them is of an episode to judge."""
    if path is None:
        return None
    ratings = load_human_ratings(path)
    if not set(ratings) & {e.session_id for e in episodes}:
        raise JudgingError(f"{path}: none of its sessions is among the episodes judged")
    return ratings


def print_personas(panel: PersonaSet, console: Console | None = None) -> None:
    """The panel as a table: who, for which group, on which dimension, from what specialty."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{len(panel.personas)} evaluator personas")
    for column in ("persona", "stakeholder", "dimension", "specialty"):
        table.add_column(column)
    for p in panel.personas:
        table.add_row(p.name, p.stakeholder, p.dimension, p.specialty)
    console.print(table)


_STOPS = {"converged": "conv", "fewer than two ratings": "<2", "round limit": "limit"}


def _episode_row(judged: EpisodeJudgement, names: Sequence[str]) -> list[str]:
    debate = ", ".join(f"{g.debate_rounds} {_STOPS[g.stop]}" for g in judged.groups)
    aggregate = judged.aggregate.score if judged.aggregate else None
    return [
        judged.session_id,
        _fmt(judged.task_score),
        *[_fmt(judged.final_ratings.get(n)) for n in names],
        _fmt(judged.mean),
        _fmt(aggregate),
        debate,
        str(judged.calls),
    ]


def print_report(report: JudgeReport, console: Console | None = None) -> None:
    """Final ratings per episode, the aggregator's summaries, agreement, and the cost."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    names = [p.name for p in report.personas.personas]
    scale = f"{report.config.scale_min}-{report.config.scale_max}"
    table = Table(title=f"final ratings ({scale}); debate: rounds and why it stopped, per group")
    table.add_column("session", no_wrap=True)
    for column in ["task score", *names, "mean", "aggregate", "debate", "calls"]:
        table.add_column(column)
    for judged in report.episodes:
        table.add_row(*_episode_row(judged, names))
    console.print(table)
    for judged in report.episodes:
        if judged.aggregate is not None:
            said = judged.aggregate.summary or f"unreadable ({judged.aggregate.error})"
            console.print(f"{judged.session_id}: {said}", highlight=False)
        for group in judged.groups:
            for r in group.final:
                if r.score is None:
                    console.print(f"{judged.session_id} {r.persona}: not rated ({r.error})")
    if report.agreement is not None:
        _print_agreement(console, report.agreement)
    groups = len(report.personas.groups())
    console.print(
        f"{len(report.episodes)} episodes judged by {len(names)} personas in {groups} groups: "
        f"{report.calls} model calls (at most {report.max_calls_per_episode} per episode), "
        f"{report.tokens} tokens",
        highlight=False,
    )


def _fmt3(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_agreement(console: Console, agreement: Agreement) -> None:
    from rich.table import Table

    table = Table(title=f"Spearman's rho with human ratings ({agreement.human_rated} episodes)")
    for column in ("ratings", "rho", "p", "n", "note"):
        table.add_column(column)
    rows = {"aggregate": agreement.aggregate, "mean": agreement.mean, **agreement.per_persona}
    for name, c in rows.items():
        table.add_row(name, _fmt3(c.rho), _fmt3(c.p_value), str(c.n), c.note)
    console.print(table)
    if agreement.unmatched:
        console.print(f"human ratings of sessions not judged: {len(agreement.unmatched)}")
