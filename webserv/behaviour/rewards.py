"""The Shop-R1 reward of one model reply against the ground-truth action, term by term.

Follows Shop-R1 (arXiv:2507.17842, §3, Table 1, Eq. 3-4):

* **format** (§3 "Format reward"): 0.5 when the reply is one JSON object with a text
  ``rationale`` and an ``action`` (:func:`webserv.policy.parse.shop_r1_object`, the check the
  rollouts record as ``format_ok``); otherwise the whole reward is 0 ("the model receives a
  non-zero reward only when its output conforms to the expected format").
* **hierarchical action reward** (Table 1), by the ground-truth type: type match 0.3 for every
  type; ``click`` +0.2 when a ``name`` is given, + DARS x ROUGE-L(name); ``type_and_submit``
  +0.1 for a ``name``, +0.1 for a ``text``, + 0.1 x ROUGE-L(name) + DARS x ROUGE-L(text);
  ``terminate`` nothing more. A ROUGE-L term counts only when the similarity *exceeds* the
  threshold (0.75, "only when that similarity exceeds a preset threshold"), and then in
  proportion to it. DARS (difficulty-aware reward scaling) is 1000 by default.
* **gating**: the paper is silent on whether the attribute and similarity terms need the
  predicted type to equal the ground-truth type; this follows the re-implementation
  (christianchartier/shop-r1, ``gate_subrewards_on_type``) and pays them only on a type
  match. ``RewardConfig.gate_on_type=False`` gives the ungated reading.
* **rationale** (Eq. 3, optional): alpha x self-certainty of the rationale tokens, alpha =
  0.005 (Eq. 4). Eq. 3 needs the full next-token distribution at each rationale position; an
  OpenAI-compatible server returns only the top-k log-probabilities, so this uses the
  re-implementation's approximation: per token, the top-k probabilities plus one "other"
  bucket for the rest of the mass, certainty = 1 - H / ln K_eff (K_eff = number of buckets),
  averaged over the rationale's tokens. It lies in [0, 1]; it is not Eq. 3's value.

ROUGE-L is the F-measure of Google's ``rouge-score`` (the ROUGE implementation the
summarisation literature reports with, and what Hugging Face ``evaluate`` wraps) rather than
a hand-written LCS: one PyPI dependency, bringing ``nltk``, ``absl-py`` and ``regex``, loaded
only by the scoring code, never by the env or the server. Its default tokenizer keeps ASCII
letters and digits only ("crème" becomes "cr me", Cyrillic text nothing), so tokens here are
the maximal runs of Unicode letters and digits, case-folded (``nav_bar.search_input`` ->
nav, bar, search, input).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field, field_validator
from rouge_score import rouge_scorer, tokenizers

from webserv.policy.parse import OPERA_TYPES, parse_output, shop_r1_object

ActionType = Literal["click", "type_and_submit", "terminate"]
#: The three OPeRA action types, in a fixed order for tables.
ACTION_TYPES: tuple[ActionType, ...] = ("click", "type_and_submit", "terminate")


class RewardConfig(BaseModel):
    """Every constant of the reward (Shop-R1 §3 and Table 1)."""

    format_reward: float = Field(0.5, description="§3 format reward.")
    type_reward: float = Field(0.3, description="Table 1, type column (every type).")
    click_name: float = Field(0.2, description="Table 1, click: +0.2 if name is given.")
    input_name: float = Field(0.1, description="Table 1, type_and_submit: +0.1 if name given.")
    input_text: float = Field(0.1, description="Table 1, type_and_submit: +0.1 if text given.")
    input_name_similarity: float = Field(
        0.1, description="Table 1, type_and_submit: + 0.1 x ROUGE-L(name)."
    )
    dars: float = Field(1000.0, description="§3 DARS factor on the long-text value terms.")
    rouge_threshold: float = Field(
        0.75, ge=0, le=1, description="§3: a ROUGE-L term counts only above this."
    )
    alpha: float = Field(0.005, ge=0, description="Eq. 4 weight of the rationale reward.")
    gate_on_type: bool = Field(
        True, description="Attribute and similarity terms only on a type match."
    )


def _field_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()


class OperaAction(BaseModel):
    """An action in OPeRA form, reduced to what the reward and the metrics compare."""

    type: str = Field(description="click, type_and_submit or terminate; '' if unreadable.")
    name: str = ""
    text: str = ""

    @classmethod
    def read(cls, action: Any) -> OperaAction:
        """Whatever an ``action`` object holds, leniently (OPeRA's ``input`` is type_and_submit)."""
        if not isinstance(action, Mapping):
            return cls(type="")
        fields = {str(k).lower(): v for k, v in action.items()}
        kind = fields.get("type")
        kind = OPERA_TYPES.get(kind.strip().lower(), "") if isinstance(kind, str) else ""
        return cls(
            type=kind, name=_field_text(fields.get("name")), text=_field_text(fields.get("text"))
        )


class GoldAction(OperaAction):
    """A ground-truth action: its type must be one of the three."""

    type: ActionType

    @field_validator("type", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        return OPERA_TYPES.get(value.strip().lower(), value) if isinstance(value, str) else value

    @classmethod
    def of(cls, action: Mapping[str, Any] | OperaAction) -> GoldAction:
        if isinstance(action, GoldAction):
            return action
        if isinstance(action, OperaAction):
            return cls.model_validate(action.model_dump())
        fields = {str(k).lower(): v for k, v in action.items()}
        return cls(
            type=fields.get("type"),
            name=_field_text(fields.get("name")),
            text=_field_text(fields.get("text")),
        )


def read_prediction(reply: str) -> OperaAction | None:
    """The action a reply names, or None when the reply fails the format check.

    A valid action is read as the policy reads it (:func:`parse_output`, e.g. ``[12]`` is
    ``12``); an invalid one field by field, so that a click without a name still has its type.
    """
    data = shop_r1_object(reply)
    if data is None:
        return None
    parsed = parse_output(reply, "opera")
    return OperaAction.read(parsed.opera_action or data["action"])


class _Words(tokenizers.Tokenizer):
    """Maximal runs of Unicode letters and digits, case-folded."""

    _WORD = re.compile(r"[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self._WORD.findall(text.casefold())


_SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of ``prediction`` against ``reference`` (0 when either has no words)."""
    return float(_SCORER.score(reference, prediction)["rougeL"].fmeasure)


def self_certainty(top_logprobs: Sequence[Sequence[float]]) -> float:
    """Mean over tokens of 1 - H / ln K_eff of the top-k distribution plus an "other" bucket.

    ``top_logprobs`` holds, per rationale token, the natural-log probabilities of the top-k
    candidates the server returned. See the module docstring for how this approximates Eq. 3.
    """
    if not top_logprobs:
        raise ValueError("self-certainty needs at least one token")
    scores = []
    for token in top_logprobs:
        probs = [math.exp(lp) for lp in token]
        rest = 1.0 - sum(probs)
        if rest > 1e-9:
            probs.append(rest)
        total = sum(probs)
        buckets = [p / total for p in probs if p > 0]
        if len(buckets) < 2:
            scores.append(1.0)
            continue
        entropy = -sum(p * math.log(p) for p in buckets)
        scores.append(min(1.0, max(0.0, 1.0 - entropy / math.log(len(buckets)))))
    return sum(scores) / len(scores)


_RATIONALE_VALUE = re.compile(r'"rationale"\s*:\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def rationale_top_logprobs(content: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """The top-k log-probabilities of the rationale's tokens in an OpenAI ``logprobs.content``.

    ``content`` is the per-token list of a chat completion's ``choices[0].logprobs`` (each
    ``{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}``); the tokens that
    overlap the string value of ``"rationale"`` are kept. Empty when there is no rationale.
    """
    tokens = [str(entry.get("token", "")) for entry in content]
    match = _RATIONALE_VALUE.search("".join(tokens))
    if match is None:
        return []
    start, end = match.span(1)
    kept, pos = [], 0
    for entry, token in zip(content, tokens, strict=True):
        if pos < end and pos + len(token) > start:
            top = [float(t["logprob"]) for t in entry.get("top_logprobs") or []]
            kept.append(top or [float(entry["logprob"])])
        pos += len(token)
    return kept


class RewardBreakdown(BaseModel):
    """The reward of one reply, term by term; ``total`` is what RL maximises."""

    format_ok: bool
    predicted: OperaAction | None = Field(None, description="None when the format check fails.")
    gold: GoldAction
    type_match: bool = False
    format: float = 0.0
    type: float = 0.0
    name_attribute: float = Field(0.0, description="+0.2 (click) / +0.1 (type_and_submit).")
    text_attribute: float = Field(0.0, description="+0.1 (type_and_submit).")
    name_similarity: float = Field(0.0, description="DARS (click) / 0.1 (type_and_submit) x RL.")
    text_similarity: float = Field(0.0, description="DARS x ROUGE-L(text) (type_and_submit).")
    name_rouge_l: float | None = None
    text_rouge_l: float | None = None
    self_certainty: float | None = Field(None, description="None without log-probabilities.")
    rationale: float = Field(0.0, description="alpha x self_certainty.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def action(self) -> float:
        """The hierarchical action reward (type + attributes + similarities)."""
        return (
            self.type
            + self.name_attribute
            + self.text_attribute
            + self.name_similarity
            + self.text_similarity
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> float:
        return self.format + self.action + self.rationale


def shop_r1_reward(
    reply: str,
    gold: Mapping[str, Any] | OperaAction,
    config: RewardConfig | None = None,
    rationale_logprobs: Sequence[Sequence[float]] | None = None,
) -> RewardBreakdown:
    """The Shop-R1 reward of ``reply`` (the model's raw text) against the ``gold`` action.

    ``rationale_logprobs`` (see :func:`rationale_top_logprobs`) adds the rationale term.
    """
    config = config or RewardConfig()
    target = GoldAction.of(gold)
    predicted = read_prediction(reply)
    if predicted is None:
        return RewardBreakdown(format_ok=False, gold=target)
    out = RewardBreakdown(
        format_ok=True,
        predicted=predicted,
        gold=target,
        type_match=predicted.type == target.type,
        format=config.format_reward,
    )
    if rationale_logprobs:
        out.self_certainty = self_certainty(rationale_logprobs)
        out.rationale = config.alpha * out.self_certainty
    if out.type_match:
        out.type = config.type_reward
    elif config.gate_on_type:
        return out

    def soft(weight: float, similarity: float) -> float:
        return weight * similarity if similarity > config.rouge_threshold else 0.0

    if target.type == "click":
        out.name_attribute = config.click_name if predicted.name else 0.0
        out.name_rouge_l = rouge_l(predicted.name, target.name)
        out.name_similarity = soft(config.dars, out.name_rouge_l)
    elif target.type == "type_and_submit":
        out.name_attribute = config.input_name if predicted.name else 0.0
        out.text_attribute = config.input_text if predicted.text else 0.0
        out.name_rouge_l = rouge_l(predicted.name, target.name)
        out.text_rouge_l = rouge_l(predicted.text, target.text)
        out.name_similarity = soft(config.input_name_similarity, out.name_rouge_l)
        out.text_similarity = soft(config.dars, out.text_rouge_l)
    return out
