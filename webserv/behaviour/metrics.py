"""Fidelity metrics: how often, and in what way, a policy's next action is the recorded shopper's.

The unit is a scored step (:class:`StepOutcome`): one step of one session with the recorded
action, the policy's and what is known around them (user, persona, click types, the reply's
parse, both rationales). Metrics follow the papers that report them, OPeRA (arXiv:2506.05606,
next-action generation), Customer-R1 (arXiv:2510.07230, Table 4) and Shop-R1
(arXiv:2507.17842, Tables 2-3):

* **exact action accuracy** under a named rule set (:data:`RULES`), which every report names.
  ``opera`` (the default, the dataset's own rules): ``click`` matches on type and ``name``;
  ``type_and_submit`` (OPeRA's ``input``) on type, ``name`` and the same text after trimming
  whitespace; ``terminate`` on the type. ``shop-r1`` reads "text of similar meaning" as
  ROUGE-L >= 0.75 (the Shop-R1 re-implementation's reading; the paper gives no number), which
  accepts a different query that shares most words with the recorded one.
* **action-type** accuracy, macro F1 (Shop-R1's "type F1"; averaged over the types that occur
  among the gold or the predicted actions) and weighted F1 (by gold support); per gold type
  the exact and type accuracy (a policy that always terminates shows here).
* **fine-grained type accuracy** (Customer-R1): the right type with the fields that type needs
  filled (a click's name; a typed action's name and text).
* **click type** accuracy and weighted F1 over OPeRA's 13 click types, on the gold clicks whose
  click type is known (given, or derived from the semantic id by :func:`click_type_of`).
* **session outcome** weighted F1 over {purchase, no purchase} per session, by two stated rules
  (:data:`OUTCOME_RULES`): OPeRA's, judged on the session's last step, and any step.
* report lines: the format-valid rate (replies that parse), rationale ROUGE-L against the
  recorded rationale, and per-user and per-session breakdowns; :mod:`.distribution` adds how
  the predicted behaviour is distributed, :mod:`.calibration` how well stated probabilities
  over action types are calibrated.

A prediction that is not an action of the three types (a format error, ``scroll``, a missing
prediction) is counted as ``none``: wrong for its gold type, and no class of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from webserv.behaviour.calibration import CalibrationReport, calibration_report
from webserv.behaviour.distribution import (
    DistributionReport,
    SessionTrace,
    TraceAction,
    distribution_report,
)
from webserv.behaviour.rewards import (
    ACTION_TYPES,
    RULES,
    GoldAction,
    OperaAction,
    RuleSet,
    exact_match,
    rouge_l,
)

NONE = "none"

#: OPeRA's click types, in the dataset card's order.
CLICK_TYPES: tuple[str, ...] = (
    "purchase",
    "search",
    "review",
    "filter",
    "quantity",
    "product_option",
    "cart_side_bar",
    "suggested_term",
    "nav_bar",
    "page_related",
    "cart_page_select",
    "product_link",
    "other",
)
#: The click-type label of a click whose type cannot be derived from its name.
UNKNOWN = "unknown"
#: The click-type label of a prediction that is not a click, on a gold click.
NOT_CLICK = "not_click"

OutcomeRule = Literal["last_step", "any_step"]
OUTCOME_RULES: dict[OutcomeRule, str] = {
    "last_step": (
        "OPeRA: a session is a purchase when its last step is a purchase click; "
        "predicted: the policy's action at that last step"
    ),
    "any_step": (
        "a session is a purchase when any of its steps is a purchase click; "
        "predicted: when any of the policy's actions in it is"
    ),
}


def type_of(predicted: OperaAction | None) -> str:
    """The predicted action's type, or ``none`` when it is not one of the three."""
    if predicted is None or predicted.type not in ACTION_TYPES:
        return NONE
    return predicted.type


def fine_type_match(predicted: OperaAction | None, gold: GoldAction) -> bool:
    """The right type with the fields that type needs filled (Customer-R1's fine-grained type)."""
    if type_of(predicted) != gold.type or predicted is None:
        return False
    if gold.type == "click":
        return bool(predicted.name)
    if gold.type == "type_and_submit":
        return bool(predicted.name and predicted.text)
    return True


# OPeRA names an element by the page region it sits in, then the item, then the control
# (``search_results.<product>.product_name``, ``cart_side_bar.product_list.<product>.delete``),
# and its click_type follows that naming. These rules were read off (name, click_type) pairs of
# the published test split; the control decides before the region (deleting from the cart side
# bar is ``quantity``, its product image ``cart_side_bar``).
_SEMANTIC_ID = re.compile(r"[a-z][a-z0-9_]*")
_PURCHASE_CONTROLS = frozenset({"add_to_cart", "buy_now", "check_out"})
_QUANTITY_CONTROLS = frozenset({"delete", "decrease_quantity_by_one", "increase_quantity_by_one"})
_PRODUCT_LINK_CONTROLS = frozenset(
    {"product_detail", "product_name", "product_image", "product_title"}
)
_REGIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("nav_bar", "suggested_terms"), "suggested_term"),
    (("nav_bar", "search_button"), "search"),
    (("nav_bar", "search_input"), "search"),
    (("nav_bar",), "nav_bar"),
    (("cart_side_bar",), "cart_side_bar"),
    (("reviews",), "review"),
    (("product_options",), "product_option"),
    (("refinements",), "filter"),
    (("refinements_toolbar",), "filter"),
    (("pagination",), "page_related"),
    (("search_results",), "product_link"),
)


def click_type_of(name: str) -> str | None:
    """OPeRA's click type of a click on the element with semantic id ``name``.

    None when ``name`` is not a semantic id (its first dotted part is not a lower-case
    identifier: an element number like ``12``, free text); an id no rule places is ``other``.
    """
    parts = name.strip().split(".")
    if not _SEMANTIC_ID.fullmatch(parts[0]):
        return None
    control = parts[-1]
    if control in _PURCHASE_CONTROLS:
        return "purchase"
    if control in _QUANTITY_CONTROLS:
        return "quantity"
    if parts[0] == "active_item_list" and control == "checkbox":
        return "cart_page_select"
    for prefix, kind in _REGIONS:
        if tuple(parts[: len(prefix)]) == prefix:
            return kind
    if control in _PRODUCT_LINK_CONTROLS:
        return "product_link"
    return "other"


def _known_click_type(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip().lower()
    return value if value in CLICK_TYPES else None


class StepOutcome(BaseModel):
    """One scored step: the recorded action, the policy's, and what surrounds them.

    Only ``session_id``, ``step`` and ``gold`` are required; every other field adds a metric
    (click types: click-type F1 and session outcome without a derivable name; ``format_valid``:
    the format-valid rate; the rationales: rationale ROUGE-L; ``type_probabilities``:
    calibration) or a breakdown (``user_id``, ``persona``).
    """

    session_id: str
    step: int = Field(description="Orders the session's steps; the last one decides its outcome.")
    user_id: str | None = None
    persona: str | None = Field(None, description="A persona's name, for per-persona breakdowns.")
    gold: GoldAction
    gold_click_type: str | None = Field(
        None, description="The recorded click type; None: the gold's own, else derived."
    )
    predicted: OperaAction | None = Field(None, description="None: no usable action.")
    predicted_click_type: str | None = Field(
        None, description="The click type the policy gave; None: derived from its name."
    )
    format_valid: bool | None = Field(
        None, description="The reply parsed into an action; None: no reply known."
    )
    rationale: str = Field("", description="The policy's rationale.")
    gold_rationale: str = Field("", description="The recorded rationale.")
    type_probabilities: dict[str, float] | None = Field(
        None, description="The policy's probability of each action type (see .calibration)."
    )

    @field_validator("gold_click_type", "predicted_click_type", mode="before")
    @classmethod
    def _click_type(cls, value: Any) -> Any:
        """One of the 13, lower-cased; anything else is unknown (None)."""
        return _known_click_type(value)


def gold_click_label(step: StepOutcome) -> str | None:
    """The gold click's click type (``unknown`` if it has none); None if the gold is no click."""
    if step.gold.type != "click":
        return None
    given = step.gold_click_type or _known_click_type(step.gold.click_type)
    return given or click_type_of(step.gold.name) or UNKNOWN


def predicted_click_label(step: StepOutcome) -> str:
    """The predicted click's click type (``unknown`` if underivable), or ``not_click``."""
    if step.predicted is None or type_of(step.predicted) != "click":
        return NOT_CLICK
    return step.predicted_click_type or click_type_of(step.predicted.name) or UNKNOWN


@dataclass
class _Tally:
    """Gold and predicted labels counted per class, for precision, recall and F1."""

    support: Counter[str] = field(default_factory=Counter)
    predicted: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)

    def add(self, gold: str, predicted: str) -> None:
        self.support[gold] += 1
        self.predicted[predicted] += 1
        self.correct[gold] += gold == predicted

    def precision(self, label: str) -> float:
        return _ratio(self.correct[label], self.predicted[label])

    def recall(self, label: str) -> float:
        return _ratio(self.correct[label], self.support[label])

    def f1(self, label: str) -> float:
        p, r = self.precision(label), self.recall(label)
        return _ratio(2 * p * r, p + r)

    def weighted_f1(self, labels: Iterable[str]) -> float:
        """F1 averaged over ``labels``, each weighted by its gold support."""
        labels = list(labels)
        return _ratio(
            sum(self.f1(k) * self.support[k] for k in labels), sum(self.support[k] for k in labels)
        )

    def macro_f1(self, labels: Iterable[str]) -> float:
        """F1 averaged over those ``labels`` that occur among the gold or predicted ones."""
        present = [k for k in labels if self.support[k] or self.predicted[k]]
        return _ratio(sum(self.f1(k) for k in present), len(present))


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


class ClassMetrics(BaseModel):
    """The metrics of one gold action type."""

    support: int = Field(description="Gold actions of this type.")
    predicted: int = Field(description="Predicted actions of this type.")
    exact: int = Field(description="Gold actions of this type matched exactly.")
    type_correct: int = Field(description="Gold actions of this type predicted with this type.")
    exact_accuracy: float
    type_accuracy: float = Field(description="type_correct / support (the type's recall).")
    precision: float
    f1: float


class ClickTypeClass(BaseModel):
    """The metrics of one click type, among the gold clicks."""

    support: int = Field(description="Gold clicks of this click type.")
    predicted: int = Field(description="Predicted clicks of this click type on gold clicks.")
    correct: int
    precision: float
    recall: float
    f1: float


class ClickTypeMetrics(BaseModel):
    """Click types predicted on the gold clicks whose click type is known."""

    n: int = Field(description="Gold clicks with a known click type.")
    unknown_gold: int = Field(description="Gold clicks without one (left out).")
    correct: int
    accuracy: float
    weighted_f1: float = Field(description="F1 per click type, weighted by gold support.")
    macro_f1: float = Field(description="Over the click types among the gold or predicted.")
    per_type: dict[str, ClickTypeClass]
    unmatched_predictions: dict[str, int] = Field(
        description="Predictions of no click type: unknown (underivable name), not_click."
    )


class FidelityMetrics(BaseModel):
    """Fidelity of predicted next actions to the gold ones; rates are fractions in [0, 1]."""

    rules: RuleSet = Field(description="The exact-match rule set (see RULES).")
    n: int = Field(description="Pairs scored.")
    exact: int
    exact_accuracy: float
    type_accuracy: float
    fine_type_accuracy: float = Field(description="Right type with its required fields filled.")
    type_macro_f1: float
    type_weighted_f1: float
    unusable: int = Field(description="Predictions that are not an action of the three types.")
    per_class: dict[str, ClassMetrics]
    predicted_counts: dict[str, int] = Field(description="Predicted types, ``none`` included.")
    click_type: ClickTypeMetrics | None = Field(
        None, description="None when no gold click has a known click type."
    )


def _click_type_metrics(steps: Sequence[StepOutcome]) -> ClickTypeMetrics | None:
    tally = _Tally()
    unknown_gold = 0
    for step in steps:
        gold = gold_click_label(step)
        if gold == UNKNOWN:
            unknown_gold += 1
        elif gold is not None:
            tally.add(gold, predicted_click_label(step))
    n = sum(tally.support.values())
    if not n:
        return None
    correct = sum(tally.correct.values())
    return ClickTypeMetrics(
        n=n,
        unknown_gold=unknown_gold,
        correct=correct,
        accuracy=correct / n,
        weighted_f1=tally.weighted_f1(CLICK_TYPES),
        macro_f1=tally.macro_f1(CLICK_TYPES),
        per_type={
            kind: ClickTypeClass(
                support=tally.support[kind],
                predicted=tally.predicted[kind],
                correct=tally.correct[kind],
                precision=tally.precision(kind),
                recall=tally.recall(kind),
                f1=tally.f1(kind),
            )
            for kind in CLICK_TYPES
        },
        unmatched_predictions={k: tally.predicted[k] for k in (UNKNOWN, NOT_CLICK)},
    )


def step_metrics(steps: Sequence[StepOutcome], rules: RuleSet = "opera") -> FidelityMetrics:
    """The per-step metrics of ``steps`` (exact, type, fine type, click type, per class)."""
    if not steps:
        raise ValueError("no (predicted, gold) pairs to score")
    types = _Tally()
    exact: Counter[str] = Counter()
    fine = 0
    for step in steps:
        types.add(step.gold.type, type_of(step.predicted))
        exact[step.gold.type] += exact_match(step.predicted, step.gold, rules)
        fine += fine_type_match(step.predicted, step.gold)
    n = len(steps)
    per_class = {
        kind: ClassMetrics(
            support=types.support[kind],
            predicted=types.predicted[kind],
            exact=exact[kind],
            type_correct=types.correct[kind],
            exact_accuracy=_ratio(exact[kind], types.support[kind]),
            type_accuracy=types.recall(kind),
            precision=types.precision(kind),
            f1=types.f1(kind),
        )
        for kind in ACTION_TYPES
    }
    return FidelityMetrics(
        rules=rules,
        n=n,
        exact=sum(exact.values()),
        exact_accuracy=sum(exact.values()) / n,
        type_accuracy=sum(types.correct.values()) / n,
        fine_type_accuracy=fine / n,
        type_macro_f1=types.macro_f1(ACTION_TYPES),
        type_weighted_f1=types.weighted_f1(ACTION_TYPES),
        unusable=types.predicted[NONE],
        per_class=per_class,
        predicted_counts={k: types.predicted[k] for k in (*ACTION_TYPES, NONE)},
        click_type=_click_type_metrics(steps),
    )


def fidelity(
    pairs: Iterable[tuple[OperaAction | None, GoldAction]], rules: RuleSet = "opera"
) -> FidelityMetrics:
    """The per-step metrics of ``(predicted, gold)`` pairs; ``predicted`` None: no usable action.

    Click types are derived from the names; :func:`behaviour_report` takes whole steps.
    """
    steps = [
        StepOutcome(session_id="", step=i, gold=gold, predicted=predicted)
        for i, (predicted, gold) in enumerate(pairs)
    ]
    return step_metrics(steps, rules)


class OutcomeMetrics(BaseModel):
    """Session outcome (purchase or not), predicted against real, by one rule."""

    rule: OutcomeRule
    description: str
    sessions: int = Field(description="Sessions whose real outcome could be judged.")
    unjudged: int = Field(description="Sessions with a gold click of unknown click type.")
    real_purchases: int
    predicted_purchases: int
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    accuracy: float
    purchase_f1: float = Field(description="F1 of the purchase class.")
    weighted_f1: float = Field(description="F1 of both classes, weighted by real support.")


_PURCHASE, _NO_PURCHASE = "purchase", "no_purchase"


def _session_purchase(steps: Sequence[StepOutcome], rule: OutcomeRule) -> tuple[bool | None, bool]:
    """(real, predicted) purchase of one session's steps in order; real None: cannot tell."""
    judged = steps[-1:] if rule == "last_step" else steps
    golds = [gold_click_label(s) for s in judged]
    predicted = any(predicted_click_label(s) == "purchase" for s in judged)
    if "purchase" in golds:
        return True, predicted
    return (None if UNKNOWN in golds else False), predicted


def session_outcome(
    sessions: Iterable[Sequence[StepOutcome]], rule: OutcomeRule
) -> OutcomeMetrics | None:
    """Purchase-or-not per session (steps in order), predicted vs real; None if none judged."""
    tally = _Tally()
    unjudged = 0
    for steps in sessions:
        real, predicted = _session_purchase(steps, rule)
        if real is None:
            unjudged += 1
            continue
        tally.add(_PURCHASE if real else _NO_PURCHASE, _PURCHASE if predicted else _NO_PURCHASE)
    n = sum(tally.support.values())
    if not n:
        return None
    yes, no = _PURCHASE, _NO_PURCHASE
    return OutcomeMetrics(
        rule=rule,
        description=OUTCOME_RULES[rule],
        sessions=n,
        unjudged=unjudged,
        real_purchases=tally.support[yes],
        predicted_purchases=tally.predicted[yes],
        true_positive=tally.correct[yes],
        false_positive=tally.predicted[yes] - tally.correct[yes],
        false_negative=tally.support[yes] - tally.correct[yes],
        true_negative=tally.correct[no],
        accuracy=sum(tally.correct.values()) / n,
        purchase_f1=tally.f1(yes),
        weighted_f1=tally.weighted_f1((yes, no)),
    )


class GroupMetrics(BaseModel):
    """The report lines of one user's or one session's steps."""

    sessions: int
    steps: int
    exact_accuracy: float
    type_accuracy: float
    fine_type_accuracy: float
    format_valid_rate: float | None = Field(description="None: no step says whether it parsed.")
    rationale_rouge_l: float | None = Field(description="None: no pair of rationales.")


@dataclass
class _Scored:
    """A step with what every breakdown needs of it, computed once (ROUGE-L is not free)."""

    step: StepOutcome
    exact: bool
    rationale_rouge_l: float | None


def _score(step: StepOutcome, rules: RuleSet) -> _Scored:
    similarity = None
    if step.rationale.strip() and step.gold_rationale.strip():
        similarity = rouge_l(step.rationale, step.gold_rationale)
    return _Scored(step, exact_match(step.predicted, step.gold, rules), similarity)


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def _group(scored: Sequence[_Scored]) -> GroupMetrics:
    n = len(scored)
    return GroupMetrics(
        sessions=len({s.step.session_id for s in scored}),
        steps=n,
        exact_accuracy=sum(s.exact for s in scored) / n,
        type_accuracy=sum(type_of(s.step.predicted) == s.step.gold.type for s in scored) / n,
        fine_type_accuracy=sum(fine_type_match(s.step.predicted, s.step.gold) for s in scored) / n,
        format_valid_rate=_mean(
            float(s.step.format_valid) if s.step.format_valid is not None else None for s in scored
        ),
        rationale_rouge_l=_mean(s.rationale_rouge_l for s in scored),
    )


class BehaviourReport(BaseModel):
    """Everything ``webserv behaviour score`` and ``eval`` report about a set of scored steps."""

    rules: RuleSet
    rules_description: str
    metrics: FidelityMetrics
    overall: GroupMetrics = Field(description="Format-valid rate and rationale ROUGE-L here.")
    rationale_pairs: int = Field(
        description="Steps with both a predicted and a recorded rationale."
    )
    session_outcome: dict[OutcomeRule, OutcomeMetrics | None] = Field(
        description="Per rule; None when no session's real outcome can be judged."
    )
    per_user: dict[str, GroupMetrics] = Field(description="Steps with a user_id only.")
    per_session: dict[str, GroupMetrics]
    distribution: DistributionReport
    calibration: CalibrationReport | None = Field(
        None, description="Over the steps with type_probabilities; None if none has."
    )


def _sessions(steps: Iterable[StepOutcome]) -> dict[str, list[StepOutcome]]:
    grouped: dict[str, list[StepOutcome]] = {}
    for step in steps:
        grouped.setdefault(step.session_id, []).append(step)
    for sid, rows in grouped.items():
        rows.sort(key=lambda s: s.step)
        if len({s.step for s in rows}) != len(rows):
            raise ValueError(f"session {sid!r} has two steps with the same number")
    return grouped


def _trace(steps: Sequence[StepOutcome]) -> SessionTrace:
    def real(step: StepOutcome) -> TraceAction:
        label = gold_click_label(step)
        return TraceAction(type=step.gold.type, click_type=None if label == UNKNOWN else label)

    def predicted(step: StepOutcome) -> TraceAction:
        label = predicted_click_label(step)
        return TraceAction(
            type=type_of(step.predicted), click_type=None if label == NOT_CLICK else label
        )

    first = steps[0]
    return SessionTrace(
        session_id=first.session_id,
        user_id=first.user_id,
        persona=first.persona,
        real=[real(s) for s in steps],
        predicted=[predicted(s) for s in steps],
    )


def behaviour_report(
    steps: Sequence[StepOutcome],
    rules: RuleSet = "opera",
    qece_bins: int = 10,
    ece_bins: int = 15,
) -> BehaviourReport:
    """Every metric, report line and breakdown of ``steps`` (any order; sessions by id).

    ``qece_bins`` and ``ece_bins`` are the bin counts of the calibration errors.
    """
    if not steps:
        raise ValueError("no (predicted, gold) pairs to score")
    sessions = _sessions(steps)
    scored = {sid: [_score(s, rules) for s in rows] for sid, rows in sessions.items()}
    users: dict[str, list[_Scored]] = {}
    for rows in scored.values():
        for s in rows:
            if s.step.user_id is not None:
                users.setdefault(s.step.user_id, []).append(s)
    stated = [(s.type_probabilities, s.gold.type) for s in steps if s.type_probabilities]
    return BehaviourReport(
        rules=rules,
        rules_description=RULES[rules],
        metrics=step_metrics(steps, rules),
        overall=_group([s for rows in scored.values() for s in rows]),
        rationale_pairs=sum(
            s.rationale_rouge_l is not None for rows in scored.values() for s in rows
        ),
        session_outcome={rule: session_outcome(sessions.values(), rule) for rule in OUTCOME_RULES},
        per_user={user: _group(rows) for user, rows in sorted(users.items())},
        per_session={sid: _group(rows) for sid, rows in scored.items()},
        distribution=distribution_report([_trace(rows) for rows in sessions.values()]),
        calibration=calibration_report(
            [p for p, _ in stated],
            [label for _, label in stated],
            ACTION_TYPES,
            qece_bins,
            ece_bins,
        )
        if stated
        else None,
    )
