"""Fidelity metrics: how often a policy's next action is the one the recorded shopper took.

Over (predicted, gold) pairs of OPeRA actions, as Shop-R1 (arXiv:2507.17842, §4, Tables 2-3)
and OPeRA (arXiv:2506.05606, next-action generation) report them:

* **exact action accuracy**: every component matches. ``click``: type and target ``name``;
  ``type_and_submit``: ``name`` exactly and the text "of similar meaning", read as ROUGE-L
  >= 0.75 (the Shop-R1 re-implementation's reading; the paper gives no number);
  ``terminate``: the type.
* **action-type accuracy**, and the action type's **macro F1** (the class average Shop-R1
  calls "type F1") and **weighted F1** (by gold support, OPeRA's second number). Macro F1
  averages the types that occur among the gold or the predicted actions.
* **per class** (Table 3): exact and type accuracy among the steps of each gold type, with
  precision and F1. A policy that always terminates shows as type accuracy 1 on
  ``terminate`` and 0 elsewhere - the reward-hacking signature of Shop-R1's 0.5B model.

A prediction that is not an action of the three types (a format error, ``scroll``, a missing
prediction) is counted as ``none``: wrong for its gold type, and no class of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from webserv.behaviour.rewards import ACTION_TYPES, GoldAction, OperaAction, rouge_l

#: Exact match of type_and_submit text: ROUGE-L at least this.
TEXT_MATCH = 0.75
NONE = "none"


def type_of(predicted: OperaAction | None) -> str:
    """The predicted action's type, or ``none`` when it is not one of the three."""
    if predicted is None or predicted.type not in ACTION_TYPES:
        return NONE
    return predicted.type


def exact_match(
    predicted: OperaAction | None, gold: GoldAction, text_match: float = TEXT_MATCH
) -> bool:
    """Whether ``predicted`` is ``gold`` in every component (see the module docstring)."""
    if predicted is None or predicted.type != gold.type:
        return False
    if gold.type == "click":
        return predicted.name == gold.name
    if gold.type == "type_and_submit":
        return predicted.name == gold.name and rouge_l(predicted.text, gold.text) >= text_match
    return True


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


class FidelityMetrics(BaseModel):
    """Fidelity of predicted next actions to the gold ones; rates are fractions in [0, 1]."""

    n: int = Field(description="Pairs scored.")
    exact: int
    exact_accuracy: float
    type_accuracy: float
    type_macro_f1: float
    type_weighted_f1: float
    unusable: int = Field(description="Predictions that are not an action of the three types.")
    per_class: dict[str, ClassMetrics]
    predicted_counts: dict[str, int] = Field(description="Predicted types, ``none`` included.")


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def fidelity(
    pairs: Iterable[tuple[OperaAction | None, GoldAction]], text_match: float = TEXT_MATCH
) -> FidelityMetrics:
    """The metrics of ``(predicted, gold)`` pairs; ``predicted`` None is no usable action."""
    support: Counter[str] = Counter()
    predicted_types: Counter[str] = Counter()
    exact: Counter[str] = Counter()
    type_correct: Counter[str] = Counter()
    for predicted, gold in pairs:
        kind = type_of(predicted)
        support[gold.type] += 1
        predicted_types[kind] += 1
        type_correct[gold.type] += kind == gold.type
        exact[gold.type] += exact_match(predicted, gold, text_match)
    n = sum(support.values())
    if not n:
        raise ValueError("no (predicted, gold) pairs to score")
    per_class = {}
    for kind in ACTION_TYPES:
        precision = _ratio(type_correct[kind], predicted_types[kind])
        recall = _ratio(type_correct[kind], support[kind])
        per_class[kind] = ClassMetrics(
            support=support[kind],
            predicted=predicted_types[kind],
            exact=exact[kind],
            type_correct=type_correct[kind],
            exact_accuracy=_ratio(exact[kind], support[kind]),
            type_accuracy=recall,
            precision=precision,
            f1=_ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0,
        )
    present = [m for m in per_class.values() if m.support or m.predicted]
    return FidelityMetrics(
        n=n,
        exact=sum(exact.values()),
        exact_accuracy=sum(exact.values()) / n,
        type_accuracy=sum(type_correct.values()) / n,
        type_macro_f1=sum(m.f1 for m in present) / len(present),
        type_weighted_f1=sum(m.f1 * m.support for m in per_class.values()) / n,
        unusable=predicted_types[NONE],
        per_class=per_class,
        predicted_counts={k: predicted_types[k] for k in (*ACTION_TYPES, NONE)},
    )
