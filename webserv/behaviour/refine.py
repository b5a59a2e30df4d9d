"""Persona refinement (DPRF, arXiv 2510.14205): rewrite a persona until its shopper acts more
like the person it stands for, on sessions it was not refined on.

One iteration, for one recorded shopper (a ``persona`` value of the recorded steps: an OPeRA
user id, a built-in persona's name):

1. **Generate**: a persona-conditioned shopper (the vlm policy with the current persona)
   predicts every step of the shopper's refinement sessions, as ``behaviour eval`` does.
2. **Divergence**: how its behaviour departs from the person's - the fidelity metrics
   (:mod:`.metrics`), and a structured report (:class:`Divergence`): over- and
   under-predicted action and click types, terminating early or late, products (element
   names) the person clicked and the shopper did not and the reverse, purchases, and a few
   steps where the two disagree, with both rationales.
3. **Analysis**: the model explains the divergence, free-form or structured by beliefs,
   goals, intentions, emotions and knowledge (DPRF's BDI variant, with its two extra parts).
4. **Refinement**: the model rewrites the persona from the analysis ("You are ...").
5. **Keep or drop**: the candidate is scored on the shopper's held-out sessions; it replaces
   the current persona only when its held-out fidelity is higher (DPRF keeps every rewrite;
   the held-out check guards against refining to the refinement sessions).

DPRF compares generated and real text with ROUGE, BLEU or embedding similarity; sessions of
shopping actions are compared here with the project's own fidelity measures, and the
objective that decides is one of them (``exact``: next-action exact accuracy, the default;
``type-f1``: action-type macro F1; ``distribution``: 1 - the action-type Jensen-Shannon
divergence). An iteration costs two evaluations (refinement and held-out sessions, one call
per recorded step each) and two calls (analysis, rewrite).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from webserv.behaviour.distribution import DistributionFidelity
from webserv.behaviour.replay import (
    EvalConfig,
    EvalSummary,
    Prediction,
    ReplayError,
    evaluate,
    load_steps,
    load_surveys,
    recorded_persona,
    sessions,
)
from webserv.policy.persona import Persona
from webserv.policy.vlm import ChatModel, ModelConfig

Analysis = Literal["free", "bdi"]
Objective = Literal["exact", "type-f1", "distribution"]
#: The parts of a structured (BDI) analysis, in DPRF's order plus emotions and knowledge.
BDI_PARTS = ("beliefs", "goals", "intentions", "emotions", "knowledge")
#: Disagreeing steps shown to the analyst, at most.
EXAMPLES = 6


class Shift(BaseModel):
    """One outcome the shopper predicts more or less often than the person chose it."""

    outcome: str
    real: float = Field(description="The person's share.")
    predicted: float = Field(description="The shopper's share.")

    @property
    def delta(self) -> float:
        return self.predicted - self.real


class Example(BaseModel):
    """A step where the shopper and the person disagree."""

    session_id: str
    step: int
    real: dict | None
    real_rationale: str
    predicted: dict | None
    predicted_rationale: str


class Divergence(BaseModel):
    """How a persona's shopper departs from the person on a set of sessions."""

    over: list[Shift] = Field(description="Action and click types predicted more often.")
    under: list[Shift] = Field(description="Action and click types predicted less often.")
    terminated_early: int = Field(description="Sessions the shopper left before the person.")
    terminated_late: int = Field(description="Sessions it left after the person, or never.")
    purchase_rate: tuple[float, float] | None = Field(
        None, description="The person's and the shopper's share of sessions with a purchase."
    )
    only_real: list[str] = Field(description="Elements the person clicked, the shopper not.")
    only_predicted: list[str] = Field(description="Elements the shopper clicked, the person not.")
    examples: list[Example]

    def text(self) -> str:
        """The report as the analyst reads it."""
        lines = []
        for title, shifts in (("more often", self.over), ("less often", self.under)):
            for s in shifts:
                lines.append(
                    f"- {s.outcome}: chosen {title} by the simulation "
                    f"({s.predicted:.0%} of its steps) than by the person ({s.real:.0%})"
                )
        lines.append(
            f"- left the site earlier than the person in {self.terminated_early} sessions, "
            f"later (or not at all) in {self.terminated_late}"
        )
        if self.purchase_rate is not None:
            real, predicted = self.purchase_rate
            lines.append(f"- bought in {predicted:.0%} of sessions; the person in {real:.0%}")
        if self.only_real:
            shown = ", ".join(self.only_real)
            lines.append("- the person clicked, the simulation did not: " + shown)
        if self.only_predicted:
            shown = ", ".join(self.only_predicted)
            lines.append("- the simulation clicked, the person did not: " + shown)
        for e in self.examples:
            lines.append(
                f"- step {e.step} of {e.session_id}: the person did {json.dumps(e.real)} "
                f'("{e.real_rationale}"); the simulation did {json.dumps(e.predicted)} '
                f'("{e.predicted_rationale}")'
            )
        return "\n".join(lines)


def _shifts(real: dict[str, float], predicted: dict[str, float]) -> list[Shift]:
    keys = sorted(real.keys() | predicted.keys())
    return [Shift(outcome=k, real=real.get(k, 0.0), predicted=predicted.get(k, 0.0)) for k in keys]


def _clicked(actions: Sequence[dict | None]) -> Counter[str]:
    """How often each element name was clicked."""
    return Counter(str(a["name"]) for a in actions if a and a["type"] == "click" and a.get("name"))


def divergence(
    fidelity: DistributionFidelity, predictions: Sequence[Prediction], threshold: float = 0.05
) -> Divergence:
    """The divergence report of one persona's predictions: shares that differ by more than
    ``threshold``, biggest first; element names by how often they were clicked."""
    shifts = _shifts(fidelity.action_types.real, fidelity.action_types.predicted)
    if fidelity.click_types is not None:
        shifts += _shifts(fidelity.click_types.real, fidelity.click_types.predicted)
    scored = [p for p in predictions if p.gold is not None]
    real, predicted = _clicked([p.gold for p in scored]), _clicked([p.predicted for p in scored])
    terminate = fidelity.terminate
    purchase = fidelity.purchase
    return Divergence(
        over=sorted((s for s in shifts if s.delta > threshold), key=lambda s: -s.delta),
        under=sorted((s for s in shifts if s.delta < -threshold), key=lambda s: s.delta),
        terminated_early=terminate.early,
        terminated_late=terminate.late + terminate.missed,
        purchase_rate=(purchase.real_rate, purchase.predicted_rate) if purchase else None,
        only_real=[name for name, _ in (real - predicted).most_common(8)],
        only_predicted=[name for name, _ in (predicted - real).most_common(8)],
        examples=[
            Example(
                session_id=p.session_id,
                step=p.step,
                real=p.gold,
                real_rationale=p.gold_rationale,
                predicted=p.predicted,
                predicted_rationale=p.rationale,
            )
            for p in scored
            if not p.exact
        ][:EXAMPLES],
    )


class RefineConfig(BaseModel):
    """Whose persona to refine, on which sessions, with which model, judged how."""

    steps: Path = Field(description="Recorded steps (an OPeRA import, a rollout).")
    user: str = Field(description="The recorded sessions' persona value: a user id or a name.")
    out: Path
    model: ModelConfig = Field(description="The shopper's endpoint.")
    analyst: ModelConfig | None = Field(None, description="Analysis and rewrite (default: model).")
    persona: Persona | None = Field(None, description="Start from (default: the recorded one).")
    iterations: int = Field(3, ge=1, description="DPRF's three rounds by default.")
    held_out: int = Field(1, ge=1, description="The user's last N sessions, for the keep test.")
    analysis: Analysis = "free"
    objective: Objective = "exact"
    eval: EvalConfig | None = Field(None, description="Prompt, rules, concurrency of the runs.")


class Fidelity(BaseModel):
    """One persona's fidelity on the refinement and the held-out sessions."""

    refine: float
    held_out: float
    refine_summary: Path = Field(description="summary.json of the refinement run.")
    held_out_summary: Path


class Iteration(BaseModel):
    """One round: the candidate persona, why it was written, and whether it was kept."""

    iteration: int
    divergence: Divergence = Field(description="Of the persona the round analysed.")
    analysis: str
    persona: str
    fidelity: Fidelity
    kept: bool


class Refinement(BaseModel):
    """``refinement.json``: every round, and the persona that came out."""

    config: RefineConfig
    refine_sessions: list[str]
    held_out_sessions: list[str]
    initial: Fidelity
    iterations: list[Iteration]
    persona: Persona = Field(description="The best persona (the initial one if none was kept).")
    best: Fidelity


def _objective(summary: EvalSummary, objective: Objective) -> float:
    metrics = summary.metrics
    if objective == "exact":
        return metrics.exact_accuracy
    if objective == "type-f1":
        return metrics.type_macro_f1
    jsd = summary.report.distribution.population.action_types.js_divergence
    return 1.0 - (jsd if jsd is not None else 1.0)


def split_sessions(steps: Path, user: str, held_out: int) -> tuple[list[str], list[str]]:
    """The user's sessions in recorded order: those to refine on, and the last ``held_out``."""
    mine = [sid for sid, rows in sessions(load_steps(steps)).items() if rows[0].persona == user]
    if len(mine) <= held_out:
        raise ReplayError(
            f"{steps}: {user!r} has {len(mine)} sessions; refining needs more than the "
            f"{held_out} held out"
        )
    return mine[:-held_out], mine[-held_out:]


ANALYST_SYSTEM = (
    "You study how a simulated online shopper, driven by a persona, differs from the real "
    "person the persona describes."
)
ANALYSIS_FREE = """The persona:
{persona}

How the simulation's actions departed from the person's on their recorded sessions:
{divergence}

Explain what in the persona makes the simulation act differently from the person: what it
gets wrong or leaves out about who they are and how they shop. Be specific; cite the
evidence above."""
ANALYSIS_BDI = """The persona:
{persona}

How the simulation's actions departed from the person's on their recorded sessions:
{divergence}

Explain what in the persona makes the simulation act differently from the person, in five
sections, each starting on its own line with its name and a colon:
Beliefs: what the person believes (about products, prices, the site) that the persona misses
Goals: what the person wants from a session
Intentions: how the person goes about it, step by step
Emotions: how the person feels while shopping (patience, doubt, impulse)
Knowledge: what the person knows (brands, the site, what they need)"""
REWRITE = """The persona:
{persona}

An analysis of how a shopper simulated with this persona differs from the real person:
{analysis}

Rewrite the persona so that a simulation of it acts like the person. Keep what is right,
correct what the analysis shows is wrong, add what is missing. Write it in the second
person, starting with "You are", as plain text of at most 250 words, and nothing else."""


def _strip(reply: str) -> str:
    """A reply without code fences, a thinking block or a leading label."""
    text = re.sub(r"<think>.*?</think>", "", reply, flags=re.S).strip()
    text = re.sub(r"^```[a-z]*\n?|\n?```$", "", text).strip()
    return re.sub(r"^(persona|rewritten persona)\s*:\s*", "", text, flags=re.I).strip()


def bdi_sections(text: str) -> dict[str, str]:
    """The five parts of a structured analysis by name (those present)."""
    names = "|".join(BDI_PARTS)
    found = re.split(rf"(?im)^\s*\**({names})\**\s*:", text)
    return {
        found[i].lower(): found[i + 1].strip()
        for i in range(1, len(found) - 1, 2)
        if found[i + 1].strip()
    }


async def _ask(model: ChatModel, prompt: str) -> str:
    messages = [
        {"role": "system", "content": ANALYST_SYSTEM},
        {"role": "user", "content": prompt},
    ]
    reply, _ = await model.complete(messages)
    return _strip(reply)


async def analyse(model: ChatModel, persona: str, report: Divergence, mode: Analysis) -> str:
    """The model's analysis of ``report``; a structured one must name every part."""
    template = ANALYSIS_BDI if mode == "bdi" else ANALYSIS_FREE
    analysis = await _ask(model, template.format(persona=persona, divergence=report.text()))
    if not analysis:
        raise ReplayError("the analyst model gave an empty analysis")
    if mode == "bdi":
        missing = [part for part in BDI_PARTS if part not in bdi_sections(analysis)]
        if missing:
            raise ReplayError(f"the analyst model's analysis has no {', '.join(missing)} part")
    return analysis


async def rewrite(model: ChatModel, persona: str, analysis: str) -> str:
    """The persona the model rewrote from ``analysis``."""
    text = await _ask(model, REWRITE.format(persona=persona, analysis=analysis))
    if len(text.split()) < 5:
        raise ReplayError(f"the analyst model gave no usable persona: {text!r}")
    return text


@dataclass
class Scored:
    """A persona's fidelity, and how it departs from the person on the refinement sessions."""

    fidelity: Fidelity
    divergence: Divergence


class _Runs:
    """The evaluations of one refinement: each persona on the two sets of sessions."""

    def __init__(self, config: RefineConfig, refine: list[str], held_out: list[str]) -> None:
        self.config, self.refine, self.held_out = config, refine, held_out
        base = config.eval or EvalConfig(steps=config.steps, out=config.out)
        self.base = base.model_copy(
            update={"steps": config.steps, "policy": "vlm", "model": config.model}
        )

    async def _run(
        self, persona: Persona, which: str, ids: list[str], tag: str
    ) -> tuple[EvalSummary, list[Prediction]]:
        run = self.base.model_copy(
            update={
                "out": self.config.out / tag / which,
                "personas": {self.config.user: persona},
                "sessions": ids,
                "max_sessions": None,
            }
        )
        predictions: list[Prediction] = []
        return await evaluate(run, predictions.append), predictions

    async def score(self, persona: Persona, tag: str) -> Scored:
        """``persona`` evaluated on both sets of sessions (under ``OUT/TAG/``)."""
        objective, out = self.config.objective, self.config.out / tag
        refine, predictions = await self._run(persona, "refine", self.refine, tag)
        held, _ = await self._run(persona, "held-out", self.held_out, tag)
        fidelity = Fidelity(
            refine=_objective(refine, objective),
            held_out=_objective(held, objective),
            refine_summary=out / "refine" / "summary.json",
            held_out_summary=out / "held-out" / "summary.json",
        )
        return Scored(fidelity, divergence(refine.report.distribution.population, predictions))


def _initial_persona(config: RefineConfig) -> Persona:
    if config.persona is not None:
        return config.persona
    found = recorded_persona(config.user, load_surveys(config.steps.parent))
    if found is None:
        raise ReplayError(
            f"{config.user!r} has no survey (personas.json) and is no built-in persona: "
            "give the persona to start from"
        )
    return found


async def refine_persona(
    config: RefineConfig, on_iteration: Callable[[Iteration], None] | None = None
) -> Refinement:
    """Run DPRF's loop for ``config.user``; write ``refinement.json`` and ``persona.json``."""
    refine_ids, held_ids = split_sessions(config.steps, config.user, config.held_out)
    current = _initial_persona(config)
    runs = _Runs(config, refine_ids, held_ids)
    analyst = ChatModel(config.analyst or config.model)
    try:
        initial = best = await runs.score(current, "iteration-0")
        rounds: list[Iteration] = []
        for number in range(1, config.iterations + 1):
            text = current.describe()
            analysis = await analyse(analyst, text, best.divergence, config.analysis)
            candidate = Persona(name=config.user, profile=await rewrite(analyst, text, analysis))
            scored = await runs.score(candidate, f"iteration-{number}")
            kept = scored.fidelity.held_out > best.fidelity.held_out
            rounds.append(
                Iteration(
                    iteration=number,
                    divergence=best.divergence,
                    analysis=analysis,
                    persona=candidate.profile,
                    fidelity=scored.fidelity,
                    kept=kept,
                )
            )
            if on_iteration is not None:
                on_iteration(rounds[-1])
            if kept:
                current, best = candidate, scored
    finally:
        await analyst.close()
    result = Refinement(
        config=config,
        refine_sessions=refine_ids,
        held_out_sessions=held_ids,
        initial=initial.fidelity,
        iterations=rounds,
        persona=current,
        best=best.fidelity,
    )
    secrets = {"config": {"model": {"api_key"}, "analyst": {"api_key"}}}
    (config.out / "refinement.json").write_text(result.model_dump_json(indent=2, exclude=secrets))
    (config.out / "persona.json").write_text(current.model_dump_json(indent=2) + "\n")
    return result
