"""The reward of one model reply against the ground-truth action: Shop-R1's or Customer-R1's.

Two published rewards, selected by the config's ``scheme`` (:data:`AnyRewardConfig`) and
named by it in every breakdown; :func:`reply_reward` dispatches.

**Shop-R1** (``"shop-r1"``, :func:`shop_r1_reward`, :class:`RewardConfig`) follows
arXiv:2507.17842, §3, Table 1, Eq. 3-4:

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
* **long ids inflate the name term**: ROUGE-L of two element names counts their shared
  words, so on OPeRA's dotted semantic ids a wrong click that shares a long prefix with the
  right one passes the threshold: ``product_options.color.button_list.white`` for
  ``...button_list.mint_green`` has ROUGE-L 10/13 = 0.77 and earns 770.2 of a correct
  click's 1001. That is the published definition and stays the default;
  ``RewardConfig.name_compare`` offers ``"distinguishing"`` (ROUGE-L of what follows the
  ids' longest common dot-separated prefix: ``white`` against ``mint_green``, 0) and
  ``"exact"``. Webserv's own numeric ids (``"12"``) score the same under all three.

**Customer-R1** (``"customer-r1"``, :func:`customer_r1_reward`, :class:`CustomerR1Config`),
arXiv:2510.07230 §3.2 as the reproduction km1216lim/customer-r1 quotes it (no official
code): R = R_action + R_format.

* **R_action** is paid by the ground truth only on an exact match (OPeRA's rule,
  :func:`exact_match`: type and ``name``; for typing also the text after trimming): text
  input 2000; a click by its ``click_type``: ``product_option`` 10, ``review`` and
  ``search`` (the search button) 1, every other type 1000 (the paper's "harder click
  subtypes", and any click whose type is unknown, such as webserv's own recordings);
  terminate 1. A wrong prediction: "incorrect clicks receive -1" is read, as the
  reproduction reads it, on the predicted side (the model clicked, and not the recorded
  element) - ``wrong_click_side="gold"`` reads it as any wrong prediction of a recorded
  click; every other wrong prediction gets 0 (the paper is silent). The paper's RL-only
  setting pays 0 for wrong clicks: ``wrong_click=0``. Whether these weights are the paper's
  from its first version on is unresolved (a summary of it reads R_action as 1 or 0); every
  weight 1, ``click_types={}`` and ``wrong_click=0`` give that binary reading.
* **R_format** is binary, the same format check as Shop-R1's; the paper gives no magnitude,
  0.1 is the reproduction's. A reply failing the check gets 0 in all: no action is read
  from it (the reproduction also scores an unparsed completion 0).

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
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    computed_field,
    field_validator,
)
from rouge_score import rouge_scorer, tokenizers

from webserv.policy.parse import OPERA_TYPES, parse_output, shop_r1_object

ActionType = Literal["click", "type_and_submit", "terminate"]
#: The three OPeRA action types, in a fixed order for tables.
ACTION_TYPES: tuple[ActionType, ...] = ("click", "type_and_submit", "terminate")
#: The rewards this module computes; every config and breakdown names its own.
RewardScheme = Literal["shop-r1", "customer-r1"]
#: How Shop-R1's name terms compare element ids (see the module docstring).
NameCompare = Literal["rouge-l", "distinguishing", "exact"]


class RewardConfig(BaseModel):
    """Every constant of the Shop-R1 reward (§3 and Table 1)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["shop-r1"] = "shop-r1"
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
    name_compare: NameCompare = Field(
        "rouge-l",
        description="Name similarity: ROUGE-L of the whole ids (published), of their parts "
        "after the longest common dot-separated prefix, or 1/0 for equal ids.",
    )


class CustomerR1Config(BaseModel):
    """Every constant of the Customer-R1 reward (§3.2; see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["customer-r1"] = "customer-r1"
    format_reward: float = Field(0.1, description="Binary format reward (reproduction's 0.1).")
    input: float = Field(2000.0, description="Exact type_and_submit (text input).")
    click: float = Field(1000.0, description="Exact click of a type not in click_types.")
    click_types: dict[str, float] = Field(
        default_factory=lambda: {"product_option": 10.0, "review": 1.0, "search": 1.0},
        description="Exact click, by the recorded click_type.",
    )
    terminate: float = Field(1.0, description="Exact terminate.")
    wrong_click: float = Field(-1.0, description="A wrong click (0 in the paper's RL-only run).")
    wrong_click_side: Literal["predicted", "gold"] = Field(
        "predicted",
        description="A wrong click is a predicted click (reproduction) or a missed gold one.",
    )
    wrong_other: float = Field(0.0, description="Any other wrong prediction.")


def _scheme(value: Any) -> str:
    """The scheme of a config or breakdown; Shop-R1 for records written before there were two."""
    if isinstance(value, Mapping):
        return str(value.get("scheme", "shop-r1"))
    return str(getattr(value, "scheme", "shop-r1"))


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
    click_type: str | None = Field(
        None, description="OPeRA's click_type of a recorded click; None when unknown."
    )

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
            click_type=_field_text(fields.get("click_type")) or None,
        )


RuleSet = Literal["opera", "shop-r1"]
#: What each rule set calls an exact match; reports quote this.
RULES: dict[RuleSet, str] = {
    "opera": (
        "OPeRA: click = type + name; type_and_submit = type + name + the same text after "
        "trimming whitespace; terminate = type"
    ),
    "shop-r1": (
        "Shop-R1: click = type + name; type_and_submit = type + name + text ROUGE-L >= 0.75; "
        "terminate = type"
    ),
}
#: Shop-R1 rule set: a type_and_submit text matches at ROUGE-L at least this.
TEXT_MATCH = 0.75


def exact_match(predicted: OperaAction | None, gold: GoldAction, rules: RuleSet = "opera") -> bool:
    """Whether ``predicted`` is ``gold`` in every component, by the named rule set."""
    if predicted is None or predicted.type != gold.type:
        return False
    if gold.type == "click":
        return predicted.name == gold.name
    if gold.type == "type_and_submit":
        if predicted.name != gold.name:
            return False
        if rules == "shop-r1":
            return rouge_l(predicted.text, gold.text) >= TEXT_MATCH
        return predicted.text.strip() == gold.text.strip()
    return True


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


def distinguishing_parts(predicted: str, gold: str) -> tuple[str, str]:
    """The two ids after their longest common prefix of whole dot-separated segments.

    ``a.color.white`` and ``a.color.mint_green`` give ``white`` and ``mint_green``; ids with
    no common first segment are returned whole.
    """
    ours, theirs = predicted.split("."), gold.split(".")
    common = 0
    while common < min(len(ours), len(theirs)) and ours[common] == theirs[common]:
        common += 1
    return ".".join(ours[common:]), ".".join(theirs[common:])


def name_similarity(predicted: str, gold: str, compare: NameCompare = "rouge-l") -> float:
    """How alike two element ids are, in [0, 1], as ``compare`` says (module docstring)."""
    if compare == "exact" or (compare == "distinguishing" and predicted == gold):
        return float(bool(gold) and predicted == gold)
    if compare == "distinguishing":
        predicted, gold = distinguishing_parts(predicted, gold)
    return rouge_l(predicted, gold)


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
    """The Shop-R1 reward of one reply, term by term; ``total`` is what RL maximises."""

    scheme: Literal["shop-r1"] = "shop-r1"
    format_ok: bool
    predicted: OperaAction | None = Field(None, description="None when the format check fails.")
    gold: GoldAction
    exact: bool = Field(False, description="OPeRA's exact match (exact_match).")
    type_match: bool = False
    format: float = 0.0
    type: float = 0.0
    name_attribute: float = Field(0.0, description="+0.2 (click) / +0.1 (type_and_submit).")
    text_attribute: float = Field(0.0, description="+0.1 (type_and_submit).")
    name_similarity: float = Field(0.0, description="DARS (click) / 0.1 (type_and_submit) x RL.")
    text_similarity: float = Field(0.0, description="DARS x ROUGE-L(text) (type_and_submit).")
    name_rouge_l: float | None = Field(
        None, description="The name similarity used (RewardConfig.name_compare)."
    )
    text_rouge_l: float | None = None
    self_certainty: float | None = Field(None, description="None without log-probabilities.")
    rationale: float = Field(0.0, description="alpha x self_certainty.")
    aligned_rationale: float = Field(
        0.0, description="weight x the rationale's aligned score (.aligned), if asked for."
    )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's form; mypy rejects it
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

    @computed_field  # type: ignore[prop-decorator]  # pydantic's form; mypy rejects it
    @property
    def total(self) -> float:
        return self.format + self.action + self.rationale + self.aligned_rationale


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
        exact=exact_match(predicted, target),
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
        out.name_rouge_l = name_similarity(predicted.name, target.name, config.name_compare)
        out.name_similarity = soft(config.dars, out.name_rouge_l)
    elif target.type == "type_and_submit":
        out.name_attribute = config.input_name if predicted.name else 0.0
        out.text_attribute = config.input_text if predicted.text else 0.0
        out.name_rouge_l = name_similarity(predicted.name, target.name, config.name_compare)
        out.text_rouge_l = rouge_l(predicted.text, target.text)
        out.name_similarity = soft(config.input_name_similarity, out.name_rouge_l)
        out.text_similarity = soft(config.dars, out.text_rouge_l)
    return out


class CustomerR1Breakdown(BaseModel):
    """The Customer-R1 reward of one reply: which weight paid, and the two terms."""

    scheme: Literal["customer-r1"] = "customer-r1"
    format_ok: bool
    predicted: OperaAction | None = Field(None, description="None when the format check fails.")
    gold: GoldAction
    exact: bool = Field(False, description="OPeRA's exact match (exact_match).")
    paid: str = Field(
        "",
        description="The weight that paid: input, click, click_type:<type>, terminate, "
        "wrong_click or wrong_other; '' after a failed format check.",
    )
    format: float = 0.0
    action: float = Field(0.0, description="R_action: the difficulty weight, or the penalty.")
    aligned_rationale: float = Field(
        0.0, description="weight x the rationale's aligned score (.aligned), if asked for."
    )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's form; mypy rejects it
    @property
    def total(self) -> float:
        return self.format + self.action + self.aligned_rationale


def _customer_r1_weight(
    predicted: OperaAction, gold: GoldAction, exact: bool, config: CustomerR1Config
) -> tuple[str, float]:
    """The row of Customer-R1's weight table that applies, and its value."""
    if exact and gold.type == "click":
        if gold.click_type in config.click_types:
            return f"click_type:{gold.click_type}", config.click_types[gold.click_type]
        return "click", config.click
    if exact and gold.type == "type_and_submit":
        return "input", config.input
    if exact:
        return "terminate", config.terminate
    clicked = predicted.type if config.wrong_click_side == "predicted" else gold.type
    if clicked == "click":
        return "wrong_click", config.wrong_click
    return "wrong_other", config.wrong_other


def customer_r1_reward(
    reply: str, gold: Mapping[str, Any] | OperaAction, config: CustomerR1Config | None = None
) -> CustomerR1Breakdown:
    """The Customer-R1 reward of ``reply`` (the model's raw text) against the ``gold`` action.

    ``gold`` should carry its ``click_type`` (an OPeRA step's): without it a correct click is
    paid the hard-click weight.
    """
    config = config or CustomerR1Config()
    target = GoldAction.of(gold)
    predicted = read_prediction(reply)
    if predicted is None:
        return CustomerR1Breakdown(format_ok=False, gold=target)
    exact = exact_match(predicted, target)
    paid, weight = _customer_r1_weight(predicted, target, exact, config)
    return CustomerR1Breakdown(
        format_ok=True,
        predicted=predicted,
        gold=target,
        exact=exact,
        paid=paid,
        format=config.format_reward,
        action=weight,
    )


#: A reward config of either scheme; a record without ``scheme`` is Shop-R1's.
AnyRewardConfig = Annotated[
    Annotated[RewardConfig, Tag("shop-r1")] | Annotated[CustomerR1Config, Tag("customer-r1")],
    Discriminator(_scheme),
]
#: A reward breakdown of either scheme; a record without ``scheme`` is Shop-R1's.
AnyRewardBreakdown = Annotated[
    Annotated[RewardBreakdown, Tag("shop-r1")] | Annotated[CustomerR1Breakdown, Tag("customer-r1")],
    Discriminator(_scheme),
]
_CONFIGS: TypeAdapter[RewardConfig | CustomerR1Config] = TypeAdapter(AnyRewardConfig)


def reward_config(scheme: RewardScheme, **constants: Any) -> RewardConfig | CustomerR1Config:
    """The config of ``scheme`` with its published constants but those given.

    Raises:
        pydantic.ValidationError: a constant the scheme does not have, or of the wrong type.
    """
    return _CONFIGS.validate_python({**constants, "scheme": scheme})


def reply_reward(
    reply: str,
    gold: Mapping[str, Any] | OperaAction,
    config: RewardConfig | CustomerR1Config | None = None,
    rationale_logprobs: Sequence[Sequence[float]] | None = None,
) -> RewardBreakdown | CustomerR1Breakdown:
    """The reward of ``reply`` under ``config``'s scheme (Shop-R1 when None).

    ``rationale_logprobs`` feed Shop-R1's rationale term; Customer-R1 has none.
    """
    if isinstance(config, CustomerR1Config):
        return customer_r1_reward(reply, gold, config)
    return shop_r1_reward(reply, gold, config, rationale_logprobs)
