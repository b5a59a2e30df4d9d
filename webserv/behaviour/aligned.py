"""Aligned scoring of free text: a proper scoring rule fitted to human scores.

A text (a predicted rationale, a judge's reason, an answer) is scored against a reference text
as in the ElicitationGPT line (Wu & Hartline, arXiv:2406.09363), with the rule chosen as the
Aligned Scoring Rule paper chooses it (ASR; Lu, Wu, Hartline & Curry, arXiv:2507.06221): among
proper scoring rules, the one closest in mean squared error to reference (human) scores.

**Text to forecasts.** The text becomes a report on m yes/no indicator questions: p_j in [0, 1],
the probability that the text answers question j "yes", read by a language model from the text
alone. The reference's yes/no answers are the outcomes y_j, read from the reference alone, in a
separate call made once per reference (and cached): were the outcomes asked for beside the
text, the text could move its own ground truth. The score is the mean over the questions of a
proper rule S(p_j, y_j); each question's term depends on its own report only, so the mean is
proper for the vector of reports whenever S is. The questions are given, or written by the
model from the reference in a fixed prompt that asks for some the reference answers "yes" and
some "no" (outcomes all "yes" would leave half of every rule unused).

**The rules**, each of a report p in [0, 1] and an outcome y in {0, 1}, in [0, 1], higher better:

* V-shaped, kink t in (0, 1): V_t(p, y) = 1/2 + sgn(p - t) (y - t) / (2 max(t, 1 - t)), with
  sgn(0) = 0. It is the rule S(p, y) = G(p) + G'(p)(y - p) of the convex G_t(q) = 1/2 +
  |q - t| / (2 max(t, 1 - t)) (Li, Hartline, Shan & Wu 2022's V-shaped rule with its kink at
  the prior), taking the subgradient 0 at the kink: a report at t scores 1/2 whatever happens,
  the most extreme score is 0 or 1. Under a belief q the expected score is G_t(q) for any
  report on q's side of t: weakly proper.
* Brier (quadratic): 1 - (p - y)^2; strictly proper.
* log: ln(p_y / e) / ln((1 - e) / e), p_y the report's probability of the outcome after
  clipping p to [e, 1 - e] (``log_floor`` e = 0.01): a positive affine map of the log score,
  bounded. Clipping the report, not p_y alone, keeps it proper (a floor on p_y alone would pay
  p = 1 over p = q for beliefs near 1); strictly proper for q in [e, 1 - e].

**Why these span the proper rules.** Every binary proper rule is, up to regularity,
S(p, y) = A + B y + integral of 1[p > t] (y - t) dmu(t) with mu >= 0 (Schervish 1989; Gneiting
& Raftery 2007, section 3). With c_t = 1 / (2 max(t, 1 - t)) and p != t,
V_t = 1/2 - c_t (y - t) + 2 c_t 1[p > t] (y - t): one elementary rule, plus an outcome term
tied to its weight. Non-negative mixtures of V_t over a grid of kinks give every mu on that
grid; a free B y term (``outcome_weight``, of either sign: a function of the outcome alone
changes no report's expected rank) unties the outcome term, so the family is every binary
proper rule whose mu lives on the grid, plus Brier's (mu uniform) and log's
(mu = 1 / (t (1 - t))) shapes. It matters: V_0.3 pays a perfect "yes" 1, a perfect "no" 0.71.

**Fitting** (:func:`fit_aligned`). Item i's feature for rule k is the mean of S_k over its
questions; its fitted score is a + sum_k w_k F_ik + b ybar_i with w_k >= 0 and a, b of any sign,
minimising the squared error to the human scores. For any weights the best a is the mean
residual, so the columns and the scores are centred and the weights solved by non-negative
least squares (``scipy.optimize.nnls``), b as two non-negative columns +ybar and -ybar. The
fitted per-question rule a + sum_k w_k S_k(p, y) + b y is a
non-negative mixture of proper rules plus a function of y: proper. Agreement with the human
scores (MSE, Pearson, Spearman) is reported on the fitted items and on held-out ones (k-fold
cross-validation: each item predicted by the fit without its fold), beside two baselines per
rule, Brier and log: as is (their mean score, nothing fitted) and with only a scale w >= 0 and
an offset fitted on the same folds, which isolates what fitting the shape adds.

**Interpreted.** The ASR paper minimises the MSE between a proper rule and the reference
score; its exact optimisation program (how the rule is parameterised, constraints, any
regularisation) could not be consulted here, so the family above and its NNLS fit are this
module's implementation of that idea, not a reproduction of the paper's solver. The prompts
are ours, not ElicitationGPT's: a probability per question is asked for directly, 0.5 when
the text does not address the question.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import typer
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from webserv.behaviour.replay import Prediction
    from webserv.policy.vlm import ChatModel, ModelConfig

FloatArray = npt.NDArray[np.float64]

#: Kinks of the V-shaped rules fitted by default.
DEFAULT_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The same, as ``--thresholds`` takes them.
DEFAULT_THRESHOLDS_TEXT = ",".join(f"{kink:g}" for kink in DEFAULT_THRESHOLDS)


class AlignedError(ValueError):
    """Bad input to aligned scoring (a file, an item, a rule); the message says where."""


class ElicitationError(AlignedError):
    """A model's reply cannot be read as the answers it was asked for."""


# --- the proper rules -------------------------------------------------------------------


def v_shaped(p: npt.ArrayLike, y: npt.ArrayLike, threshold: float) -> FloatArray:
    """V_t(p, y) = 1/2 + sgn(p - t) (y - t) / (2 max(t, 1 - t)), in [0, 1] (module docstring)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"the kink of a V-shaped rule must lie in (0, 1), got {threshold}")
    report, outcome = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    scale = 2.0 * max(threshold, 1.0 - threshold)
    return 0.5 + np.sign(report - threshold) * (outcome - threshold) / scale


def brier(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """The quadratic rule 1 - (p - y)^2, in [0, 1]."""
    return 1.0 - (np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2


def log_score(p: npt.ArrayLike, y: npt.ArrayLike, floor: float = 0.01) -> FloatArray:
    """ln(p_y / e) / ln((1 - e) / e) with p clipped to [e, 1 - e], e = ``floor``; in [0, 1]."""
    if not 0.0 < floor < 0.5:
        raise ValueError(f"the log rule's floor must lie in (0, 0.5), got {floor}")
    report = np.clip(np.asarray(p, dtype=float), floor, 1.0 - floor)
    outcome = np.asarray(y, dtype=float)
    p_y = outcome * report + (1.0 - outcome) * (1.0 - report)
    return np.log(p_y / floor) / math.log((1.0 - floor) / floor)


RuleKind = Literal["v", "brier", "log"]


class RuleSpec(BaseModel):
    """One proper rule of the family: a V-shaped rule with its kink, Brier or log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RuleKind
    threshold: float | None = Field(
        None, gt=0, lt=1, description="The V-shaped rule's kink t; None for Brier and log."
    )

    @model_validator(mode="after")
    def _kink_only_for_v(self) -> RuleSpec:
        if (self.kind == "v") != (self.threshold is not None):
            raise ValueError("a V-shaped rule needs a threshold, and only it has one")
        return self

    @property
    def name(self) -> str:
        return f"V({self.threshold:.2f})" if self.threshold is not None else self.kind

    def scores(self, p: npt.ArrayLike, y: npt.ArrayLike, log_floor: float) -> FloatArray:
        """This rule's score of each report against its outcome."""
        if self.threshold is not None:
            return v_shaped(p, y, self.threshold)
        return brier(p, y) if self.kind == "brier" else log_score(p, y, log_floor)


class RuleComponent(RuleSpec):
    """A rule of the family with its fitted weight."""

    weight: float = Field(ge=0, description="Non-negative: what keeps the mixture proper.")


def _checked(reports: npt.ArrayLike, outcomes: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    p, y = np.asarray(reports, dtype=float), np.asarray(outcomes, dtype=float)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise ValueError(f"need as many reports as outcomes, at least one: {p.shape} vs {y.shape}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"reports must be probabilities in [0, 1], got {p.tolist()}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"outcomes must be 0 or 1, got {y.tolist()}")
    return p, y


class AlignedRule(BaseModel):
    """A proper rule for yes/no questions, fitted to human scores (:func:`fit_aligned`).

    Per question S(p, y) = offset + sum_k weight_k S_k(p, y) + outcome_weight y, every weight_k
    >= 0; a text's score is the mean of S over its questions.
    """

    model_config = ConfigDict(extra="forbid")

    components: list[RuleComponent]
    outcome_weight: float = Field(0.0, description="b of the b·y term; any sign (docstring).")
    offset: float = 0.0
    log_floor: float = Field(0.01, gt=0, lt=0.5, description="e of the log rule.")

    def question_scores(self, reports: npt.ArrayLike, outcomes: npt.ArrayLike) -> FloatArray:
        """S(p_j, y_j) for each question."""
        p, y = _checked(reports, outcomes)
        total = self.offset + self.outcome_weight * y
        for component in self.components:
            total = total + component.weight * component.scores(p, y, self.log_floor)
        return total

    def score(self, reports: npt.ArrayLike, outcomes: npt.ArrayLike) -> float:
        """The mean of S over the questions: the text's score."""
        return float(self.question_scores(reports, outcomes).mean())

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> AlignedRule:
        """Read a rule :meth:`save` wrote; :class:`AlignedError` says what is wrong."""
        if not path.is_file():
            raise AlignedError(f"{path}: no such file")
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as err:
            raise AlignedError(f"{path}: not an aligned rule: {err}") from err


# --- items and fitting ------------------------------------------------------------------


class ScoredItem(BaseModel):
    """One text with its reports, the reference's outcomes and its human score."""

    id: str = ""
    reports: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)
    outcomes: list[Literal[0, 1]] = Field(min_length=1)
    human: FiniteFloat = Field(description="The reference (human) score to align with.")
    questions: list[str] | None = Field(None, description="The indicator questions, if known.")
    text: str | None = None
    reference: str | None = None

    @field_validator("outcomes", mode="before")
    @classmethod
    def _booleans(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [int(v) if isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _one_report_per_question(self) -> ScoredItem:
        if len(self.reports) != len(self.outcomes):
            raise ValueError(f"{len(self.reports)} reports for {len(self.outcomes)} outcomes")
        if self.questions is not None and len(self.questions) != len(self.outcomes):
            raise ValueError(f"{len(self.questions)} questions for {len(self.outcomes)} outcomes")
        return self


def load_items(path: Path) -> list[ScoredItem]:
    """The items of a JSONL file, one :class:`ScoredItem` a line."""
    if not path.is_file():
        raise AlignedError(f"{path}: no such file")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(ScoredItem.model_validate_json(line))
        except ValidationError as err:
            raise AlignedError(f"{path}:{number}: not an item: {err}") from err
    if not items:
        raise AlignedError(f"{path}: no items")
    return items


def _fit_columns(features: FloatArray, human: FloatArray, signed: int) -> tuple[FloatArray, float]:
    """Weights (>= 0, but the last ``signed`` of any sign) and the offset of least squares."""
    mean = features.mean(axis=0)
    centred = features - mean
    n = features.shape[1]
    design = np.hstack([centred, -centred[:, n - signed :]])
    from scipy import optimize  # seconds to import: only when fitting

    solution, _ = optimize.nnls(design, human - human.mean())
    weights = solution[:n].copy()
    weights[n - signed :] -= solution[n:]
    return weights, float(human.mean() - mean @ weights)


def _features(
    items: Sequence[ScoredItem], family: Sequence[RuleSpec], config: FitConfig
) -> FloatArray:
    """Item i, rule k: the mean of S_k over the item's questions; then the mean outcome."""
    rows = []
    for item in items:
        p, y = np.asarray(item.reports, dtype=float), np.asarray(item.outcomes, dtype=float)
        row = [float(spec.scores(p, y, config.log_floor).mean()) for spec in family]
        rows.append(row + ([float(y.mean())] if config.outcome_term else []))
    return np.array(rows, dtype=float)


def _correlation(kind: str, a: FloatArray, b: FloatArray) -> float | None:
    """Pearson's or Spearman's coefficient; None when it is undefined (a side is constant)."""
    from scipy import stats  # seconds to import: only when scoring

    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(getattr(stats, kind)(a, b).statistic)


class Agreement(BaseModel):
    """How close scores are to the human scores."""

    n: int
    mse: float
    pearson: float | None = Field(description="None when either side is constant.")
    spearman: float | None = Field(description="Pearson of the ranks (ties: mean rank).")


def agreement(scores: FloatArray, human: FloatArray) -> Agreement:
    return Agreement(
        n=int(human.size),
        mse=float(np.mean((scores - human) ** 2)),
        pearson=_correlation("pearsonr", scores, human),
        spearman=_correlation("spearmanr", scores, human),
    )


class FitConfig(BaseModel):
    """The family of rules fitted and how the fit is validated."""

    model_config = ConfigDict(extra="forbid")

    thresholds: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS),
        description="Kinks of the V-shaped rules.",
    )
    brier: bool = Field(True, description="Brier in the family.")
    log: bool = Field(True, description="log in the family.")
    outcome_term: bool = Field(True, description="A free b·y term (module docstring).")
    log_floor: float = Field(0.01, gt=0, lt=0.5)
    folds: int = Field(5, ge=2, description="Cross-validation folds for held-out agreement.")
    seed: int = Field(0, description="Seed of the fold assignment.")

    def family(self) -> list[RuleSpec]:
        rules = [RuleSpec(kind="v", threshold=t) for t in sorted(set(self.thresholds))]
        rules += [RuleSpec(kind="brier")] if self.brier else []
        return rules + ([RuleSpec(kind="log")] if self.log else [])


Fitted = Literal["shape", "scale", "none"]


class RuleAgreement(BaseModel):
    """One rule's agreement with the human scores, on the fitted items and held out."""

    name: str
    fitted: Fitted = Field(
        description="shape: the weights of the family, a scale and offset; scale: a scale "
        ">= 0 and an offset of one rule; none: the rule's mean score as is."
    )
    fit: Agreement
    held_out: Agreement = Field(description="Cross-validated; as `fit` when nothing is fitted.")


class AlignedFit(BaseModel):
    """A fitted rule and how it and the baselines agree with the human scores."""

    rule: AlignedRule
    config: FitConfig
    items: int
    questions: int = Field(description="Questions over all items.")
    comparison: list[RuleAgreement]


def _held_out(
    features: FloatArray, human: FloatArray, signed: int, config: FitConfig
) -> FloatArray:
    """Each item's score by the fit without its fold."""
    order = np.random.default_rng(config.seed).permutation(human.size)
    predicted = np.empty(human.size)
    for fold in np.array_split(order, config.folds):
        train = np.setdiff1d(order, fold)
        weights, offset = _fit_columns(features[train], human[train], signed)
        predicted[fold] = offset + features[fold] @ weights
    return predicted


def _fitted_agreement(
    name: str,
    fitted: Fitted,
    features: FloatArray,
    human: FloatArray,
    signed: int,
    config: FitConfig,
) -> RuleAgreement:
    weights, offset = _fit_columns(features, human, signed)
    return RuleAgreement(
        name=name,
        fitted=fitted,
        fit=agreement(offset + features @ weights, human),
        held_out=agreement(_held_out(features, human, signed, config), human),
    )


def fit_aligned(items: Sequence[ScoredItem], config: FitConfig | None = None) -> AlignedFit:
    """Fit the rule to the items' human scores; compare it with Brier and log (docstring)."""
    config = config or FitConfig()
    if len(items) < config.folds:
        raise AlignedError(f"{len(items)} items cannot be split into {config.folds} folds")
    family = config.family()
    if not family:
        raise AlignedError("the family has no rule: give thresholds, Brier or log")
    human = np.array([item.human for item in items], dtype=float)
    features = _features(items, family, config)
    signed = int(config.outcome_term)
    weights, offset = _fit_columns(features, human, signed)
    rule = AlignedRule(
        components=[
            RuleComponent(**spec.model_dump(), weight=float(w))
            for spec, w in zip(family, weights[: len(family)], strict=True)
        ],
        outcome_weight=float(weights[-1]) if signed else 0.0,
        offset=offset,
        log_floor=config.log_floor,
    )
    comparison = [_fitted_agreement("aligned", "shape", features, human, signed, config)]
    baseline_config = config.model_copy(update={"outcome_term": False})
    for spec in (RuleSpec(kind="brier"), RuleSpec(kind="log")):
        column = _features(items, [spec], baseline_config)
        comparison.append(_fitted_agreement(spec.name, "scale", column, human, 0, config))
        as_is = agreement(column[:, 0], human)
        comparison.append(RuleAgreement(name=spec.name, fitted="none", fit=as_is, held_out=as_is))
    return AlignedFit(
        rule=rule,
        config=config,
        items=len(items),
        questions=sum(len(item.outcomes) for item in items),
        comparison=comparison,
    )


# --- eliciting reports and outcomes from a model ----------------------------------------


class ElicitationConfig(BaseModel):
    """Which questions to ask and what the texts are about."""

    model_config = ConfigDict(extra="forbid")

    questions: list[str] | None = Field(
        None, description="The indicator questions; None: written from each reference."
    )
    generate: int = Field(5, ge=1, le=20, description="Questions written per reference.")
    subject: str = Field(
        "a shopper's stated reason for their next action on a shopping site",
        description="What the texts are, as the prompts name it.",
    )


_SYSTEM = (
    "You read texts carefully and answer questions about what they say. "
    "Reply with one JSON object and nothing else."
)


def _messages(user: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def _numbered(questions: Sequence[str]) -> str:
    return "\n".join(f"{i}. {q}" for i, q in enumerate(questions, 1))


def questions_prompt(reference: str, n: int, subject: str) -> list[dict[str, Any]]:
    """The request for n indicator questions written from the reference, with its answers."""
    return _messages(
        f"Reference text ({subject}):\n<<<\n{reference}\n>>>\n\n"
        f"Write {n} yes/no questions about what a text of this kind could say: the goal, the "
        "item or value concerned, the reason, and the intended action. Each question must be "
        "answerable from the reference alone. Include questions the reference answers yes "
        "and questions it answers no (a plausible other goal, item, value or action).\n"
        'Reply with {"questions": [{"question": "...", "answer": "yes" or "no"}, ...]}.'
    )


def reference_prompt(reference: str, questions: Sequence[str]) -> list[dict[str, Any]]:
    """The request for the reference's yes/no answer to each given question."""
    return _messages(
        f"Reference text:\n<<<\n{reference}\n>>>\n\n"
        f"Answer each question about what the reference text says, yes or no.\n"
        f"Questions:\n{_numbered(questions)}\n\n"
        'Reply with {"answers": {"1": "yes" or "no", "2": ..., ...}}.'
    )


def text_prompt(text: str, questions: Sequence[str], subject: str) -> list[dict[str, Any]]:
    """The request for the probability that the text answers each question yes."""
    return _messages(
        f"Text ({subject}):\n<<<\n{text}\n>>>\n\n"
        "For each question, give the probability (a number from 0 to 1) that the text's "
        "answer is yes: near 1 when the text clearly says so, near 0 when it clearly says "
        "otherwise, 0.5 when it does not address the question.\n"
        f"Questions:\n{_numbered(questions)}\n\n"
        'Reply with {"answers": {"1": probability, "2": probability, ...}}.'
    )


def _quoted(reply: str) -> str:
    return repr(reply[:160] + ("..." if len(reply) > 160 else ""))


def _reply_field(reply: str, key: str) -> Any:
    """``key``'s value in the last JSON object of the reply that has it (read leniently)."""
    # the policy's lenient JSON reader; imported here as webserv.policy loads the openai client
    from webserv.policy.parse import json_objects

    for found in reversed(json_objects(reply)):
        for name, value in found.items():
            if str(name).strip().lower() == key:
                return value
    raise ElicitationError(f'no JSON object with "{key}" in the reply {_quoted(reply)}')


def _per_question(value: Any, m: int) -> list[Any]:
    """The answers to questions 1..m, from an object keyed by number or a list of m."""
    if isinstance(value, list):
        if len(value) != m:
            raise ElicitationError(f"{len(value)} answers to {m} questions")
        return value
    if not isinstance(value, dict):
        raise ElicitationError(f"the answers are not an object by question number: {value!r}")
    keyed = {str(k).strip().rstrip("."): v for k, v in value.items()}
    missing = [str(j) for j in range(1, m + 1) if str(j) not in keyed]
    if missing:
        raise ElicitationError(f"the reply does not answer question {', '.join(missing)}")
    return [keyed[str(j)] for j in range(1, m + 1)]


_YES, _NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


def yes_no(value: Any) -> int:
    """1 for yes, 0 for no (also true/false, 1/0); anything else is an :class:`ElicitationError`."""
    if isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 1)):
        return int(value)
    word = value.strip().strip(".").lower() if isinstance(value, str) else None
    if word in _YES | _NO:
        return int(word in _YES)
    raise ElicitationError(f"not a yes/no answer: {value!r}")


def probability(value: Any) -> float:
    """A probability in [0, 1] from a number, a numeric string or a percentage ("80%")."""
    if isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ElicitationError(f"not a probability: {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ElicitationError(f"a probability must lie in [0, 1], got {value!r}")
    return number


class GroundTruth(BaseModel):
    """A reference's indicator questions and its yes (1) / no (0) answers to them."""

    questions: list[str]
    outcomes: list[Literal[0, 1]]


def read_generated(reply: str, limit: int) -> GroundTruth:
    """The questions a model wrote from a reference, with the reference's answers."""
    entries = _reply_field(reply, "questions")
    if not isinstance(entries, list) or not entries:
        raise ElicitationError(f'"questions" is not a non-empty list in {_quoted(reply)}')
    questions, outcomes = [], []
    for entry in entries[:limit]:
        fields = {str(k).lower(): v for k, v in entry.items()} if isinstance(entry, dict) else {}
        question = fields.get("question")
        if not isinstance(question, str) or not question.strip() or "answer" not in fields:
            raise ElicitationError(f"a question needs its text and an answer, got {entry!r}")
        questions.append(question.strip())
        outcomes.append(yes_no(fields["answer"]))
    return GroundTruth(questions=questions, outcomes=outcomes)


def read_answers(reply: str, m: int) -> list[int]:
    """The reference's yes/no answers to m questions."""
    return [yes_no(v) for v in _per_question(_reply_field(reply, "answers"), m)]


def read_reports(reply: str, m: int) -> list[float]:
    """The text's probability of yes for each of m questions."""
    return [probability(v) for v in _per_question(_reply_field(reply, "answers"), m)]


class TextScore(BaseModel):
    """A text scored against a reference: the reports, the outcomes and the rule's score."""

    questions: list[str] = Field(default_factory=list)
    reports: list[float] | None = None
    outcomes: list[int] | None = None
    score: float | None = Field(None, description="None when a reply could not be read.")
    error: str = Field("", description="Why there is no score.")


class TextScorer:
    """Scores texts against references with a fitted rule, through a chat model.

    A reference's questions and outcomes are asked for once and shared by every text scored
    against it (concurrent callers wait for the same request). An endpoint that fails raises
    :class:`~webserv.policy.vlm.ModelError`; an unreadable reply is a :class:`TextScore`
    with ``error`` set.
    """

    def __init__(
        self, model: ChatModel, rule: AlignedRule, config: ElicitationConfig | None = None
    ) -> None:
        self.model = model
        self.rule = rule
        self.config = config or ElicitationConfig()
        self._truths: dict[str, GroundTruth] = {}
        self._asking: dict[str, asyncio.Task[GroundTruth]] = {}

    async def _ask(self, messages: list[dict[str, Any]]) -> str:
        text, _ = await self.model.complete(messages)
        return text

    async def _read_ground_truth(self, reference: str) -> GroundTruth:
        given = self.config.questions
        if given:
            reply = await self._ask(reference_prompt(reference, given))
            return GroundTruth(questions=list(given), outcomes=read_answers(reply, len(given)))
        n = self.config.generate
        reply = await self._ask(questions_prompt(reference, n, self.config.subject))
        return read_generated(reply, n)

    async def ground_truth(self, reference: str) -> GroundTruth:
        """The reference's questions and outcomes, asked for once per reference.

        Only an answer is kept: after a failure (the endpoint, an unreadable reply) the next
        caller asks again.
        """
        if reference in self._truths:
            return self._truths[reference]
        asking = self._asking.get(reference)
        if asking is None:
            asking = asyncio.ensure_future(self._read_ground_truth(reference))
            self._asking[reference] = asking
        try:
            truth = self._truths[reference] = await asking
        finally:
            self._asking.pop(reference, None)
        return truth

    async def score(self, text: str, reference: str) -> TextScore:
        """The text's reports on the reference's questions, scored by the rule."""
        try:
            truth = await self.ground_truth(reference)
        except ElicitationError as err:
            return TextScore(error=f"reference: {err}")
        questions = truth.questions
        reply = await self._ask(text_prompt(text, questions, self.config.subject))
        try:
            reports = read_reports(reply, len(questions))
        except ElicitationError as err:
            return TextScore(questions=questions, outcomes=truth.outcomes, error=f"text: {err}")
        return TextScore(
            questions=questions,
            reports=reports,
            outcomes=list(truth.outcomes),
            score=self.rule.score(reports, truth.outcomes),
        )


# --- the rationale term of a reward ------------------------------------------------------


class AlignedTerm(BaseModel):
    """The aligned-rationale term of one reply's reward."""

    value: float = Field(description="weight x score: what to add to the reward; 0 unscored.")
    score: float | None = Field(description="The rule's score of the rationale; None unscored.")
    weight: float
    error: str = ""


async def aligned_rationale_term(
    scorer: TextScorer, rationale: str, reference: str, weight: float
) -> AlignedTerm:
    """``weight`` x the aligned score of a reply's ``rationale`` against the recorded one.

    Without a recorded rationale, or when the model's reply cannot be read, the term is 0 and
    ``error`` says why (a judge's failure is not the policy's). An empty rationale is scored
    like any text. The endpoint failing raises :class:`~webserv.policy.vlm.ModelError`.
    """
    if not reference.strip():
        return AlignedTerm(value=0.0, score=None, weight=weight, error="no recorded rationale")
    scored = await scorer.score(rationale, reference)
    value = 0.0 if scored.score is None else weight * scored.score
    return AlignedTerm(value=value, score=scored.score, weight=weight, error=scored.error)


# --- commands ----------------------------------------------------------------------------


def _agreement_cells(m: Agreement) -> list[str]:
    from webserv.behaviour.cli import num

    return [num(m.mse, 4), num(m.pearson), num(m.spearman)]


def _fit_tables(fit: AlignedFit) -> list[Any]:
    """The agreement of the fitted rule and the baselines, and the fitted rule's weights."""
    from webserv.behaviour.cli import num, table

    rows = [
        [
            row.name,
            row.fitted,
            *(v for m in (row.fit, row.held_out) for v in _agreement_cells(m)),
        ]
        for row in fit.comparison
    ]
    columns = ["rule", "fitted", "MSE", "Pearson", "Spearman"]
    columns += ["held-out MSE", "held-out Pearson", "held-out Spearman"]
    title = (
        f"agreement with the human scores ({fit.items} items, {fit.questions} questions; "
        f"held out: {fit.config.folds}-fold)"
    )
    rule = fit.rule
    weights = [[c.name, num(c.weight, 4)] for c in rule.components if c.weight > 0]
    weights += [["outcome (b·y)", num(rule.outcome_weight, 4)], ["offset", num(rule.offset, 4)]]
    return [
        table(title, columns, rows),
        table("fitted rule (weights > 0)", ["term", "weight"], weights),
    ]


def fit_aligned_command(
    items: Path = typer.Argument(
        ..., help="JSONL, one item a line: reports, outcomes (0/1) and the human score."
    ),
    out: Path = typer.Option(..., "--out", help="Where the fitted rule (JSON) is written."),
    thresholds: str = typer.Option(
        DEFAULT_THRESHOLDS_TEXT,
        help="Kinks of the V-shaped rules in (0, 1), comma-separated; '' for none.",
    ),
    brier_rule: bool = typer.Option(True, "--brier/--no-brier", help="Brier in the family."),
    log_rule: bool = typer.Option(True, "--log/--no-log", help="log in the family."),
    outcome_term: bool = typer.Option(
        True, "--outcome-term/--no-outcome-term", help="A free b·y term."
    ),
    log_floor: float = typer.Option(0.01, help="The log rule's report clip e, in (0, 0.5)."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds (held-out agreement)."),
    seed: int = typer.Option(0, help="Seed of the fold assignment."),
    json_output: bool = typer.Option(False, "--json", help="Print the fit as JSON."),
) -> None:
    """Fit a proper scoring rule to human scores (Aligned Scoring Rule); write it as JSON."""
    from rich.console import Console

    from webserv.rollout.cli import fail

    try:
        kinks = [float(t) for t in thresholds.split(",") if t.strip()]
        config = FitConfig(
            thresholds=kinks,
            brier=brier_rule,
            log=log_rule,
            outcome_term=outcome_term,
            log_floor=log_floor,
            folds=folds,
            seed=seed,
        )
        fit = fit_aligned(load_items(items), config)
        fit.rule.save(out)
    except ValueError as err:  # AlignedError, and pydantic's ValidationError of the options
        raise fail(str(err)) from err
    except OSError as err:
        raise fail(f"cannot write {out}: {err}") from err
    if json_output:
        typer.echo(fit.model_dump_json(indent=2))
        return
    console = Console()
    for table in _fit_tables(fit):
        console.print(table)
    typer.echo(f"rule written to {out}")


class StepTextScore(TextScore):
    """A predicted rationale scored against the recorded one of the same step."""

    session_id: str
    step: int
    text: str
    reference: str
    rouge_l: float = Field(description="ROUGE-L F of the text against the reference.")


class TextScoreSummary(BaseModel):
    """``score-text``'s result: every step's score and the means."""

    scored: int = Field(description="Rationales given a score.")
    unreadable: int = Field(description="Rationales whose model reply could not be read.")
    mean_score: float | None
    mean_rouge_l: float | None
    steps: list[StepTextScore]


async def score_rationales(
    pairs: Sequence[Prediction],
    model_config: ModelConfig,
    rule: AlignedRule,
    elicitation: ElicitationConfig,
    concurrency: int = 4,
) -> TextScoreSummary:
    """Score each prediction's rationale against its recorded one (``gold_rationale``)."""
    from webserv.behaviour.rewards import rouge_l
    from webserv.policy.vlm import ChatModel

    model = ChatModel(model_config)
    scorer = TextScorer(model, rule, elicitation)
    gate = asyncio.Semaphore(concurrency)

    async def one(p: Prediction) -> StepTextScore:
        async with gate:
            scored = await scorer.score(p.rationale, p.gold_rationale)
        return StepTextScore(
            **scored.model_dump(),
            session_id=p.session_id,
            step=p.step,
            text=p.rationale,
            reference=p.gold_rationale,
            rouge_l=rouge_l(p.rationale, p.gold_rationale),
        )

    try:
        steps = list(await asyncio.gather(*(one(p) for p in pairs)))
    finally:
        await model.close()
    scores = [s.score for s in steps if s.score is not None]
    return TextScoreSummary(
        scored=len(scores),
        unreadable=len(steps) - len(scores),
        mean_score=sum(scores) / len(scores) if scores else None,
        mean_rouge_l=sum(s.rouge_l for s in steps) / len(steps) if steps else None,
        steps=steps,
    )


def _print_text_scores(summary: TextScoreSummary, rule: Path) -> None:
    """The per-session table of scores and a closing line with the means."""
    from rich.console import Console

    from webserv.behaviour.cli import num, table

    by_session: dict[str, list[StepTextScore]] = {}
    for step in summary.steps:
        by_session.setdefault(step.session_id, []).append(step)
    rows = []
    for session, steps in by_session.items():
        scores = [s.score for s in steps if s.score is not None]
        mean = sum(scores) / len(scores) if scores else None
        rouge = sum(s.rouge_l for s in steps) / len(steps)
        rows.append(
            [session, str(len(steps)), str(len(steps) - len(scores)), num(mean), num(rouge)]
        )
    columns = ["session", "rationales", "unreadable", "aligned score", "ROUGE-L"]
    Console().print(table("predicted rationales against the recorded ones", columns, rows))
    typer.echo(
        f"{summary.scored} rationales scored, {summary.unreadable} unreadable replies; "
        f"mean aligned score {num(summary.mean_score)}, mean ROUGE-L "
        f"{num(summary.mean_rouge_l)} (rule {rule})"
    )


def score_text_command(
    predictions: Path = typer.Argument(
        ..., help="predictions.jsonl of `webserv behaviour eval` (a rationale per step)."
    ),
    steps: Path = typer.Argument(
        ..., help="The recorded steps: their rationales are the references."
    ),
    rule: Path = typer.Option(..., "--rule", help="A rule written by fit-aligned (JSON)."),
    endpoint: str = typer.Option(..., help="OpenAI-compatible base URL, ending in /v1."),
    model: str = typer.Option(..., help="Model name the endpoint serves."),
    api_key: str = typer.Option(
        "EMPTY", "--api-key", envvar="WEBSERV_MODEL_API_KEY", help="API key of the endpoint."
    ),
    question: list[str] = typer.Option(
        [], "--question", help="An indicator question (repeatable); default: written per reference."
    ),
    questions: int = typer.Option(
        5, "--questions", min=1, max=20, help="Questions written per reference."
    ),
    temperature: float = typer.Option(0.0, min=0.0, help="Sampling temperature of the model."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=16, help="Tokens per reply."),
    concurrency: int = typer.Option(4, min=1, help="Rationales scored at once."),
    out: Path | None = typer.Option(None, "--out", help="Also write every step's score (JSONL)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score predicted rationales against the recorded ones with a fitted aligned rule."""
    from webserv.behaviour.replay import ReplayError, pair_predictions
    from webserv.policy.vlm import ModelConfig, ModelError
    from webserv.rollout.cli import fail

    try:
        fitted = AlignedRule.load(rule)
        paired = pair_predictions(predictions, steps)
    except (AlignedError, ReplayError) as err:
        raise fail(str(err)) from err
    pairs = [p for p in paired.predictions if not p.missing and p.gold_rationale.strip()]
    if not pairs:
        raise fail(f"no prediction of {predictions} pairs with a recorded rationale in {steps}")
    settings = ModelConfig(
        endpoint=endpoint,
        model=model,
        api_key=api_key,
        temperature=temperature,
        max_tokens=max_tokens,
    )
    elicitation = ElicitationConfig(questions=question or None, generate=questions)
    try:
        summary = asyncio.run(score_rationales(pairs, settings, fitted, elicitation, concurrency))
        if out is not None:
            out.write_text("".join(s.model_dump_json() + "\n" for s in summary.steps))
    except ModelError as err:
        raise fail(str(err)) from err
    except OSError as err:
        raise fail(f"cannot write {out}: {err}") from err
    if json_output:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        _print_text_scores(summary, rule)
