"""Digital-twin comparison: a person's traces against their twin's on the same tasks.

The Rufus digital-twin study (arXiv 2509.21501) runs 40 shoppers and an LLM twin of each on
the same shopping tasks and compares them: the twins explore more diverse choices, their
action patterns align with the people's, and their post-task feedback is similar. This module
makes that comparison over two sets of recorded runs, A (the person, by convention) and B
(the twin): ``steps.jsonl`` files of webserv rollouts or OPeRA imports
(:class:`~webserv.rollout.records.StepRecord` lines), with ``episodes.jsonl`` beside them
read when present (for the policy that made each side).

Traces are paired (:class:`PairBy`): by task, by persona and task, by recorded session (a
replay rollout's task is the recorded session it replays) or by order. Where a key has several
traces on a side they are paired in order and the rest are counted as unpaired. Per pair:

* **trace length** of each side (steps up to and including the first ``terminate``, the rule
  of :func:`~webserv.behaviour.distribution.session_length`: a replay rollout goes on past a
  policy's terminate, a live one does not) and the difference B - A;
* the **action-type distributions** of the two traces and their Jensen-Shannon divergence
  (:func:`~webserv.behaviour.distribution.js_divergence`, base 2);
* **Levenshtein edit distance** (unit costs) and **longest common subsequence** over the
  action-type sequences, each also divided by the longer trace's length; optionally over
  (type, target) sequences, the target being the element acted on: its role and label where
  the recorded page lists it (webserv's numbered ids mean nothing across pages), else its
  semantic id (OPeRA's ids already name the element), else nothing (scroll, back, terminate);
* **Jaccard overlap of the products viewed**: the ids of OPeRA's ``products`` field where the
  records carry one (the import of this tree does not keep it yet; a record with the key is
  read), else the products whose pages were visited, by URL (:data:`PRODUCT_URLS`: webserv's
  shop ``/products/<id>``, Amazon's ``/dp/<ASIN>``); undefined when neither side viewed one;
* whether the **final choice** is the same: the products of the last purchase click (OPeRA's
  ``purchase`` click type, or a control labelled add to cart, buy now, checkout or place
  order) made where a product is known (a product page, or a record's products), else the
  last product viewed, else none; two traces choosing nothing agree;
* the **feedback** answers of the two traces, question by question, when feedback files are
  given (JSON: session id -> {question: answer}).

Over all pairs every per-pair number gets its mean with a confidence interval
(:class:`CompareConfig`: a percentile bootstrap over pairs with a fixed seed, or a Student t
interval); the **diversity of choices** is the Shannon entropy (bits, plug-in) of each side's
final choices over the pairs, ``none`` an outcome of its own, and the difference B - A with a
paired bootstrap interval (:func:`entropy_difference` says why a side gets none); feedback
gives, per question, the mean difference and mean absolute difference of numeric answers and
the agreement rate of categorical ones.

A replay rollout (``webserv rollout --replay``) is teacher-forced: whatever the policy does,
the next page is the recorded one. Its trace holds the policy's actions on the recorded pages,
so its products viewed are the recording's up to where the policy stopped, and its purchase
clicks are its own on pages it did not choose; a live rollout's trace is the policy's own
path.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import typer
from pydantic import BaseModel, Field, ValidationError, field_validator

from webserv.behaviour.distribution import TraceAction, js_divergence, session_length
from webserv.options import Json
from webserv.rollout.cli import fail

# The record, metric and replay modules take seconds to import (tokenizers, ROUGE): the CLI
# mounts this module's command, so they are imported where they are used.
if TYPE_CHECKING:
    from rich.console import Console

    from webserv.rollout.records import StepRecord


class TwinsError(ValueError):
    """Input that cannot be compared; the message says which file and what is wrong."""


class PairBy(StrEnum):
    """How a trace of A finds its trace of B."""

    task = "task"
    persona_task = "persona-task"
    session = "session"
    order = "order"


class CiMethod(StrEnum):
    """How an interval is made: a percentile bootstrap over pairs, or Student's t."""

    bootstrap = "bootstrap"
    t = "t"


#: Product pages by URL, each with an ``id`` group: webserv's shop and Amazon (OPeRA).
PRODUCT_URLS: tuple[str, ...] = (
    r"/products/(?P<id>[^/?#]+)",
    r"/(?:dp|gp/product)/(?P<id>[A-Z0-9]{10})(?:[/?#]|$)",
)
#: Labels of the controls that buy or put a product in the cart on webserv-style pages.
PURCHASE_LABEL = re.compile(
    r"\b(add to (cart|bag|basket)|buy now|(proceed to )?check ?out|place (your )?order)\b",
    re.IGNORECASE,
)


class CompareConfig(BaseModel):
    """How traces are paired and how the aggregate intervals are made."""

    pair_by: PairBy = Field(PairBy.task, description="task, persona-task, session or order.")
    targets: bool = Field(False, description="Also compare (type, target) sequences.")
    ci: CiMethod = Field(
        CiMethod.bootstrap,
        description="Intervals of the means: percentile bootstrap over pairs, or Student t. "
        "The difference of the choice entropies always uses the bootstrap (not a mean).",
    )
    confidence: float = Field(0.95, gt=0, lt=1)
    resamples: int = Field(10_000, ge=100, description="Bootstrap resamples.")
    seed: int = Field(0, description="Seed of the bootstrap.")
    product_urls: list[str] = Field(
        default_factory=lambda: list(PRODUCT_URLS),
        description="Regular expressions of product-page URLs; the `id` group (else the "
        "first group) names the product.",
    )

    @field_validator("product_urls")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise ValueError(f"product URL pattern {pattern!r}: {err}") from err
            if not compiled.groups:
                raise ValueError(f"product URL pattern {pattern!r} has no group for the id")
        return patterns


# ---- measures on sequences and samples ---------------------------------------------------


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions (cost 1 each)
    that turn ``a`` into ``b``."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence (not necessarily contiguous) of ``a`` and
    ``b``."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def jaccard(a: Iterable[Hashable], b: Iterable[Hashable]) -> float | None:
    """|A & B| / |A | B| of the two sets; None when both are empty (undefined)."""
    a, b = set(a), set(b)
    union = a | b
    return len(a & b) / len(union) if union else None


def _entropy_rows(codes: np.ndarray, outcomes: int) -> np.ndarray:
    """Plug-in Shannon entropy in bits of each row of outcome codes (0 .. outcomes - 1)."""
    rows, n = codes.shape
    # One bincount over all rows at once: row r's outcome k lands in bin r * outcomes + k.
    flat = (codes + outcomes * np.arange(rows)[:, None]).ravel()
    p = np.bincount(flat, minlength=rows * outcomes).reshape(rows, outcomes) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)  # 0.0 -: no -0.0


def _codes(labels: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(vocabulary)}
    return np.array([index[label] for label in labels], dtype=np.int64)


def shannon_entropy(labels: Sequence[str]) -> float:
    """Shannon entropy in bits of the empirical distribution of ``labels`` (plug-in)."""
    if not labels:
        raise ValueError("the entropy of no observations is undefined")
    vocabulary = sorted(set(labels))
    return float(_entropy_rows(_codes(labels, vocabulary)[None, :], len(vocabulary))[0])


class Estimate(BaseModel):
    """A statistic over the pairs with its confidence interval."""

    n: int = Field(description="Pairs behind it.")
    value: float | None = Field(description="None when no pair has the measure.")
    low: float | None = Field(description="None with fewer than 2 pairs.")
    high: float | None
    method: CiMethod | None = Field(description="How the interval was made.")


def _bootstrap(
    n: int, statistic: Callable[[np.ndarray], np.ndarray], config: CompareConfig
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over resamples of the n pairs (rows of indices)."""
    rng = np.random.default_rng(config.seed)
    values = statistic(rng.integers(0, n, size=(config.resamples, n)))
    tail = (1 - config.confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def mean_estimate(values: Sequence[float], config: CompareConfig) -> Estimate:
    """The mean of ``values`` with its interval by ``config.ci``."""
    n = len(values)
    if n == 0:
        return Estimate(n=0, value=None, low=None, high=None, method=None)
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if n < 2:
        return Estimate(n=n, value=mean, low=None, high=None, method=None)
    if config.ci is CiMethod.t:
        from scipy import stats  # seconds to import: only for t intervals

        quantile = float(stats.t.ppf((1 + config.confidence) / 2, n - 1))
        half = quantile * data.std(ddof=1) / math.sqrt(n)
        return Estimate(n=n, value=mean, low=mean - half, high=mean + half, method=CiMethod.t)
    low, high = _bootstrap(n, lambda idx: data[idx].mean(axis=1), config)
    return Estimate(n=n, value=mean, low=low, high=high, method=CiMethod.bootstrap)


def entropy_difference(a: Sequence[str], b: Sequence[str], config: CompareConfig) -> Estimate:
    """H(B) - H(A) of paired labels (plug-in, bits) with a paired percentile bootstrap interval
    (the same resampled pairs on both sides), whatever ``config.ci`` says: an entropy is not a
    mean.

    No interval is given for one side's entropy: the plug-in entropy is biased low in small
    samples, and more so in a resample (drawing with replacement repeats labels), so a side's
    percentile interval can miss its own estimate (ten distinct choices: 3.32 bits, resamples
    about 2.0-2.9). The bias has the same sign on both sides and partly cancels in the paired
    difference.
    """
    if len(a) != len(b) or not a:
        raise ValueError("needs two label lists of the same positive length")
    vocabulary = sorted(set(a) | set(b))
    codes_a, codes_b, k = _codes(a, vocabulary), _codes(b, vocabulary), len(vocabulary)

    def statistic(idx: np.ndarray) -> np.ndarray:
        return _entropy_rows(codes_b[idx], k) - _entropy_rows(codes_a[idx], k)

    n = len(a)
    value = float(statistic(np.arange(n)[None, :])[0])
    if n < 2:
        return Estimate(n=n, value=value, low=None, high=None, method=None)
    low, high = _bootstrap(n, statistic, config)
    return Estimate(n=n, value=value, low=low, high=high, method=CiMethod.bootstrap)


# ---- traces ------------------------------------------------------------------------------


ProductSource = Literal["products", "url"]


@dataclass
class Trace:
    """One session as compared: its steps up to the first terminate and their products."""

    session_id: str
    task_id: str
    persona: str | None
    episode: int
    steps: list[StepRecord]
    after_terminate: int
    products: list[list[str]]  # per step: the products it shows
    products_from: ProductSource


def action_type(step: StepRecord) -> str:
    """The step's action type (click, type_and_submit, terminate, select, back, ...);
    ``none`` after a format error."""
    from webserv.behaviour.metrics import NONE

    return step.action_type or NONE


def _element_id(step: StepRecord) -> str | None:
    if step.semantic_id:
        return step.semantic_id
    from webserv.browser.actions import ActionError, parse

    try:
        element = parse(step.env_action).args.get("id") if step.env_action else None
    except ActionError:
        return None
    return str(element) if element is not None else None


#: An element number of webserv's compact page text (``[12] button "Save"``); OPeRA's semantic
#: ids name the element themselves, and their pages are not searched.
_NUMBERED = re.compile(r"\d+(?:\.\d+)*")


def target(step: StepRecord) -> str:
    """The element acted on: ``role "label"`` where the page lists it, else its id, else ''."""
    from webserv.policy.scripted import elements

    element = _element_id(step)
    if element is None or not _NUMBERED.fullmatch(element):
        return element or ""
    shown = next((e for e in elements(step.observation_text) if e.id == element), None)
    return f'{shown.role} "{shown.name}"' if shown else element


def is_purchase_click(step: StepRecord) -> bool:
    """A click that buys or carts: OPeRA's purchase click type, or a purchase control's label."""
    from webserv.behaviour.metrics import click_type_of

    if action_type(step) != "click":
        return False
    recorded = str((step.action or {}).get("click_type") or "").strip().lower()
    if recorded == "purchase" or click_type_of(step.semantic_id or "") == "purchase":
        return True
    return bool(PURCHASE_LABEL.search(target(step)))


def _product_ids(value: Any, where: str) -> list[str]:
    """The ids in an OPeRA ``products`` value: a list (or its JSON text) of {asin, title}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise TwinsError(f"{where}: products is not JSON: {err}") from err
    if not isinstance(value, list):
        raise TwinsError(f"{where}: products must be a list")
    ids = []
    for item in value:
        found = (item.get("asin") or item.get("title")) if isinstance(item, dict) else item
        if not isinstance(found, str) or not found:
            raise TwinsError(f"{where}: a product needs an asin or a title")
        ids.append(found)
    return ids


def recorded_products(path: Path) -> dict[tuple[str, int], list[str]]:
    """The ``products`` of each record that has the field, by (session_id, step)."""
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if '"products"' not in line:  # skips parsing the (long) pages of records without it
            continue
        record = json.loads(line)
        if record.get("products") is not None:
            key = (record["session_id"], record["step"])
            found[key] = _product_ids(record["products"], f"{path}:{number}")
    return found


def product_of_url(url: str, patterns: Sequence[re.Pattern[str]]) -> str | None:
    """The product a page URL shows, by the first pattern that matches; None: not a product
    page."""
    for pattern in patterns:
        if match := pattern.search(url):
            return match.groupdict().get("id") or match.group(1)
    return None


def make_trace(
    steps: list[StepRecord],
    recorded: dict[tuple[str, int], list[str]],
    patterns: Sequence[re.Pattern[str]],
) -> Trace:
    """A session's steps as a trace: cut after the first terminate, products per step."""
    kept = steps[: session_length([TraceAction(type=action_type(s)) for s in steps])]
    first = kept[0]
    has_field = any((s.session_id, s.step) in recorded for s in steps)
    if has_field:
        products = [recorded.get((s.session_id, s.step), []) for s in kept]
    else:
        products = [[p] if (p := product_of_url(s.url, patterns)) else [] for s in kept]
    return Trace(
        session_id=first.session_id,
        task_id=str(first.task_id),
        persona=first.persona,
        episode=first.episode,
        steps=kept,
        after_terminate=len(steps) - len(kept),
        products=products,
        products_from="products" if has_field else "url",
    )


class Side(BaseModel):
    """One side of the comparison: where its traces came from and how many were paired."""

    source: str = Field(description="The steps file read.")
    policies: list[str] = Field(description="Policies of its episodes.jsonl; [] without one.")
    traces: int
    paired: int
    unpaired: list[str] = Field(description="Session ids of the traces left without a partner.")
    steps_after_terminate: int = Field(
        description="Steps recorded after a trace's first terminate (a replay goes on), left out."
    )
    products_from: dict[ProductSource, int] = Field(
        description="Traces whose products come from the records' products field / from URLs."
    )


def _steps_file(path: Path) -> Path:
    steps = path / "steps.jsonl" if path.is_dir() else path
    if not steps.is_file():
        raise TwinsError(f"{path}: no such file" if steps == path else f"{path}: no steps.jsonl")
    return steps


def _policies(steps_file: Path) -> list[str]:
    """The policies of the episodes recorded beside ``steps_file``, if any are."""
    episodes = steps_file.parent / "episodes.jsonl"
    if not episodes.is_file():
        return []
    from webserv.rollout.records import EpisodeRecord

    names = set()
    for number, line in enumerate(episodes.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            names.add(EpisodeRecord.model_validate_json(line).policy)
        except ValidationError as err:
            raise TwinsError(f"{episodes}:{number}: not an episode record: {err}") from err
    return sorted(names)


def load_traces(path: Path, config: CompareConfig) -> tuple[Path, list[str], list[Trace]]:
    """The steps file of a run directory (or the file itself), its policies and its traces
    in :func:`episode_order`."""
    from webserv.behaviour.replay import load_steps, sessions

    steps_file = _steps_file(path)
    try:
        grouped = sessions(load_steps(steps_file))
        recorded = recorded_products(steps_file)
        policies = _policies(steps_file)
    except UnicodeDecodeError as err:
        raise TwinsError(f"{steps_file.parent}: a run file is not UTF-8 text: {err}") from err
    patterns = [re.compile(p) for p in config.product_urls]
    traces = [make_trace(rows, recorded, patterns) for rows in grouped.values()]
    return steps_file, policies, episode_order(traces)


def episode_order(traces: Sequence[Trace]) -> list[Trace]:
    """The traces run by run (in the order the runs were appended), then by episode number.

    Concurrent episodes write their steps interleaved, so the order sessions first appear in
    is not reproducible; pairing in order needs one that is. A rollout names a session
    ``<run>-<episode:04d>``; a session not named so (an OPeRA import) counts as one run.
    """
    runs: dict[str, int] = {}

    def key(trace: Trace) -> tuple[int, int]:
        run, _, number = trace.session_id.rpartition("-")
        run = run if number == f"{trace.episode:04d}" else ""
        return runs.setdefault(run, len(runs)), trace.episode

    return sorted(traces, key=key)


# ---- pairing -----------------------------------------------------------------------------


@dataclass
class Pairing:
    """Traces of A and B paired under a key, and those left without a partner."""

    pairs: list[tuple[str, Trace, Trace]]
    unpaired_a: list[Trace]
    unpaired_b: list[Trace]


def _keys(traces: Sequence[Trace], other: Sequence[Trace], pair_by: PairBy) -> list[str]:
    """The pairing key of each trace of one side (``other``: the opposite side)."""
    if pair_by is PairBy.order:
        return [str(i) for i in range(len(traces))]
    if pair_by is PairBy.task:
        return [t.task_id for t in traces]
    if pair_by is PairBy.persona_task:
        return [f"{t.persona or '-'} / {t.task_id}" for t in traces]
    # A replay rollout's task is the recorded session it replays: such a trace stands for
    # that session when the other side holds it.
    others = {t.session_id for t in other}
    return [
        t.task_id if t.task_id in others and t.session_id not in others else t.session_id
        for t in traces
    ]


def pair_traces(a: Sequence[Trace], b: Sequence[Trace], pair_by: PairBy) -> Pairing:
    """Pair each trace of ``a`` with the first unpaired trace of ``b`` under the same key (so
    several traces of a key pair in order); the rest stay unpaired."""
    waiting: dict[str, list[Trace]] = {}
    for key, trace in zip(_keys(b, a, pair_by), b, strict=True):
        waiting.setdefault(key, []).append(trace)
    pairs, unpaired_a = [], []
    for key, trace in zip(_keys(a, b, pair_by), a, strict=True):
        if waiting.get(key):
            pairs.append((key, trace, waiting[key].pop(0)))
        else:
            unpaired_a.append(trace)
    unpaired_b = [trace for group in waiting.values() for trace in group]
    return Pairing(pairs=pairs, unpaired_a=unpaired_a, unpaired_b=unpaired_b)


# ---- one pair ----------------------------------------------------------------------------


class Choice(BaseModel):
    """A trace's final choice."""

    kind: Literal["purchase", "viewed", "none"] = Field(
        description="purchase: the products of the last purchase click with a known product; "
        "viewed: no such click, the last product viewed; none: no product viewed."
    )
    products: list[str] = Field(description="Sorted; usually one (a cart checkout: several).")

    @property
    def label(self) -> str:
        return " + ".join(self.products) if self.products else self.kind


def final_choice(trace: Trace) -> Choice:
    """The last purchased or carted product(s), else the last product viewed, else none."""
    bought = [
        p for s, p in zip(trace.steps, trace.products, strict=True) if p and is_purchase_click(s)
    ]
    if bought:
        return Choice(kind="purchase", products=sorted(set(bought[-1])))
    viewed = [p for shown in trace.products for p in shown]
    if viewed:
        return Choice(kind="viewed", products=[viewed[-1]])
    return Choice(kind="none", products=[])


class TraceSummary(BaseModel):
    """One side of a pair."""

    session_id: str
    task_id: str
    persona: str | None
    length: int = Field(description="Steps up to and including the first terminate.")
    action_types: dict[str, int]
    products_viewed: list[str] = Field(description="In the order first viewed.")
    choice: Choice


def summarise(trace: Trace) -> TraceSummary:
    """What the pair tables show of one trace: length, action types, products, choice."""
    viewed = dict.fromkeys(p for shown in trace.products for p in shown)
    return TraceSummary(
        session_id=trace.session_id,
        task_id=trace.task_id,
        persona=trace.persona,
        length=len(trace.steps),
        action_types=dict(sorted(Counter(action_type(s) for s in trace.steps).items())),
        products_viewed=list(viewed),
        choice=final_choice(trace),
    )


class SequenceComparison(BaseModel):
    """Two action sequences, edit distance and longest common subsequence."""

    edit_distance: int
    edit_distance_normalised: float = Field(description="Edit distance / the longer length.")
    lcs: int
    lcs_normalised: float = Field(description="LCS length / the longer length.")


def compare_sequences(a: Sequence[Hashable], b: Sequence[Hashable]) -> SequenceComparison:
    """Edit distance and LCS of two sequences, raw and over the longer one's length."""
    longest = max(len(a), len(b))
    if not longest:
        raise ValueError("two empty sequences")
    distance, common = edit_distance(a, b), lcs_length(a, b)
    return SequenceComparison(
        edit_distance=distance,
        edit_distance_normalised=distance / longest,
        lcs=common,
        lcs_normalised=common / longest,
    )


Answer = bool | int | float | str
Feedback = dict[str, dict[str, Answer]]


class PairComparison(BaseModel):
    """A person's trace and their twin's on the same key, compared."""

    key: str = Field(description="What paired them: the task, persona / task, session, index.")
    a: TraceSummary
    b: TraceSummary
    length_difference: int = Field(description="B's length - A's.")
    action_type_jsd: float = Field(description="JS divergence (base 2) of the action types.")
    action_sequence: SequenceComparison = Field(description="Over the action-type sequences.")
    target_sequence: SequenceComparison | None = Field(
        description="Over the (type, target) sequences; None unless asked for."
    )
    products_jaccard: float | None = Field(description="None when neither viewed a product.")
    same_choice: bool = Field(description="The same final product(s), or neither chose one.")
    same_outcome: bool = Field(
        description="The same choice made the same way (both purchased, both only viewed, or "
        "both none): stricter than same_choice."
    )
    feedback: dict[str, tuple[Answer, Answer]] | None = Field(
        description="The questions both sides answered: (A's answer, B's); None without both."
    )


def _typed_targets(trace: Trace) -> list[tuple[str, str]]:
    return [(action_type(s), target(s)) for s in trace.steps]


def compare_pair(
    key: str, a: Trace, b: Trace, targets: bool, answers: tuple[Feedback, Feedback] | None
) -> PairComparison:
    """Every per-pair measure of the module docstring."""
    first, second = summarise(a), summarise(b)
    types_a, types_b = [action_type(s) for s in a.steps], [action_type(s) for s in b.steps]
    same = set(first.choice.products) == set(second.choice.products)
    feedback = None
    if answers and a.session_id in answers[0] and b.session_id in answers[1]:
        of_a, of_b = answers[0][a.session_id], answers[1][b.session_id]
        feedback = {q: (of_a[q], of_b[q]) for q in of_a if q in of_b}
    return PairComparison(
        key=key,
        a=first,
        b=second,
        length_difference=second.length - first.length,
        action_type_jsd=js_divergence(Counter(types_a), Counter(types_b)),
        action_sequence=compare_sequences(types_a, types_b),
        target_sequence=compare_sequences(_typed_targets(a), _typed_targets(b))
        if targets
        else None,
        products_jaccard=jaccard(first.products_viewed, second.products_viewed),
        same_choice=same,
        same_outcome=same and first.choice.kind == second.choice.kind,
        feedback=feedback,
    )


# ---- over all pairs ----------------------------------------------------------------------


class Aggregate(BaseModel):
    """The mean of each per-pair measure over the pairs, with its interval."""

    length_a: Estimate = Field(description="trace length, A (steps)")
    length_b: Estimate = Field(description="trace length, B (steps)")
    length_difference: Estimate = Field(description="length difference B - A")
    action_type_jsd: Estimate = Field(description="action-type JS divergence")
    edit_distance: Estimate = Field(description="edit distance, action types")
    edit_distance_normalised: Estimate = Field(description="edit distance / longer, types")
    lcs: Estimate = Field(description="LCS, action types")
    lcs_normalised: Estimate = Field(description="LCS / longer, action types")
    target_edit_distance_normalised: Estimate | None = Field(
        description="edit distance / longer, (type, target)"
    )
    target_lcs_normalised: Estimate | None = Field(description="LCS / longer, (type, target)")
    products_jaccard: Estimate = Field(description="Jaccard of products viewed")
    same_choice: Estimate = Field(description="same final choice (rate)")
    same_outcome: Estimate = Field(description="same choice, made the same way (rate)")


#: How each aggregate reads its per-pair value (None: the pair has none).
_MEASURES: dict[str, Callable[[PairComparison], float | None]] = {
    "length_a": lambda p: p.a.length,
    "length_b": lambda p: p.b.length,
    "length_difference": lambda p: p.length_difference,
    "action_type_jsd": lambda p: p.action_type_jsd,
    "edit_distance": lambda p: p.action_sequence.edit_distance,
    "edit_distance_normalised": lambda p: p.action_sequence.edit_distance_normalised,
    "lcs": lambda p: p.action_sequence.lcs,
    "lcs_normalised": lambda p: p.action_sequence.lcs_normalised,
    "products_jaccard": lambda p: p.products_jaccard,
    "same_choice": lambda p: float(p.same_choice),
    "same_outcome": lambda p: float(p.same_outcome),
}
_TARGET_MEASURES: dict[str, Callable[[PairComparison], float | None]] = {
    "target_edit_distance_normalised": lambda p: (
        p.target_sequence.edit_distance_normalised if p.target_sequence else None
    ),
    "target_lcs_normalised": lambda p: (
        p.target_sequence.lcs_normalised if p.target_sequence else None
    ),
}


def aggregate(pairs: Sequence[PairComparison], config: CompareConfig) -> Aggregate:
    """Each measure's mean over the pairs that have it, with its interval."""
    measures = _MEASURES | (_TARGET_MEASURES if config.targets else {})
    estimates: dict[str, Estimate | None] = dict.fromkeys(_TARGET_MEASURES)
    for name, read in measures.items():
        values = [v for p in pairs if (v := read(p)) is not None]
        estimates[name] = mean_estimate(values, config)
    return Aggregate.model_validate(estimates)


class ChoiceDiversity(BaseModel):
    """How diverse each side's final choices are over the pairs (Shannon entropy, bits)."""

    entropy_a: float = Field(description="Plug-in entropy of A's final choices (bits).")
    entropy_b: float
    difference: Estimate = Field(
        description="B - A with a paired bootstrap interval: above 0, the twin's choices are "
        "more diverse."
    )
    choices_a: dict[str, int] = Field(description="Final choices (product ids, or none).")
    choices_b: dict[str, int]


def choice_diversity(pairs: Sequence[PairComparison], config: CompareConfig) -> ChoiceDiversity:
    """The entropy of each side's final choices over the pairs, and B - A."""
    a = [p.a.choice.label for p in pairs]
    b = [p.b.choice.label for p in pairs]
    return ChoiceDiversity(
        entropy_a=shannon_entropy(a),
        entropy_b=shannon_entropy(b),
        difference=entropy_difference(a, b, config),
        choices_a=dict(Counter(a).most_common()),
        choices_b=dict(Counter(b).most_common()),
    )


class PooledActionTypes(BaseModel):
    """Each side's action types over all its paired traces."""

    a: dict[str, float] = Field(description="Share of each action type.")
    b: dict[str, float]
    js_divergence: float


def pooled_action_types(pairs: Sequence[PairComparison]) -> PooledActionTypes:
    """The action types of all paired traces of each side, and their JS divergence."""
    a: Counter[str] = sum((Counter(p.a.action_types) for p in pairs), Counter())
    b: Counter[str] = sum((Counter(p.b.action_types) for p in pairs), Counter())
    return PooledActionTypes(
        a={k: v / a.total() for k, v in sorted(a.items())},
        b={k: v / b.total() for k, v in sorted(b.items())},
        js_divergence=js_divergence(a, b),
    )


# ---- feedback ----------------------------------------------------------------------------


def load_feedback(path: Path) -> Feedback:
    """A feedback file: ``{trace id: {question: answer}}``, answers numbers, text or booleans."""
    if not path.is_file():
        raise TwinsError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TwinsError(f"{path}: not JSON: {err}") from err
    if not isinstance(data, dict):
        raise TwinsError(f"{path}: needs an object mapping trace id -> {{question: answer}}")
    for trace_id, answers in data.items():
        if not isinstance(answers, dict):
            raise TwinsError(f"{path}: {trace_id}: needs an object {{question: answer}}")
        for question, answer in answers.items():
            if not isinstance(answer, bool | int | float | str) or (
                isinstance(answer, float) and not math.isfinite(answer)
            ):
                raise TwinsError(
                    f"{path}: {trace_id}: {question}: an answer is a number, text or a boolean"
                )
    return data


def _numeric(answer: Answer) -> bool:
    return isinstance(answer, int | float) and not isinstance(answer, bool)


def _category(answer: Answer) -> str:
    """Categorical answers agree when equal after trimming and case folding."""
    return str(answer).strip().casefold()


class QuestionComparison(BaseModel):
    """One feedback question, over the pairs where both sides answered it."""

    question: str
    kind: Literal["numeric", "categorical"] = Field(
        description="numeric: every answer to it, on both sides, is a number."
    )
    pairs: int
    mean_difference: Estimate | None = Field(description="Numeric: B's answer - A's.")
    mean_absolute_difference: Estimate | None = Field(description="Numeric: |B - A|.")
    agreement: Estimate | None = Field(description="Categorical: share of equal answers.")


def compare_feedback(
    pairs: Sequence[PairComparison], config: CompareConfig
) -> list[QuestionComparison]:
    """Per question (in order of first appearance), the answers of the pairs compared."""
    by_question: dict[str, list[tuple[Answer, Answer]]] = {}
    for pair in pairs:
        for question, answered in (pair.feedback or {}).items():
            by_question.setdefault(question, []).append(answered)
    out = []
    for question, answers in by_question.items():
        numeric = all(_numeric(x) and _numeric(y) for x, y in answers)
        differences = [float(y) - float(x) for x, y in answers] if numeric else []
        agreed = [] if numeric else [float(_category(x) == _category(y)) for x, y in answers]
        out.append(
            QuestionComparison(
                question=question,
                kind="numeric" if numeric else "categorical",
                pairs=len(answers),
                mean_difference=mean_estimate(differences, config) if numeric else None,
                mean_absolute_difference=mean_estimate([abs(d) for d in differences], config)
                if numeric
                else None,
                agreement=None if numeric else mean_estimate(agreed, config),
            )
        )
    return out


class FeedbackComparison(BaseModel):
    """The post-task feedback of the pairs, question by question."""

    pairs_with_feedback: int = Field(description="Pairs with an entry on both sides.")
    unknown_a: list[str] = Field(description="Ids in A's file that name no trace of A.")
    unknown_b: list[str]
    questions: list[QuestionComparison]


# ---- the comparison ----------------------------------------------------------------------


class TwinComparison(BaseModel):
    """A person's traces (A) against their twin's (B): per pair and over all pairs."""

    config: CompareConfig
    a: Side
    b: Side
    pairs: list[PairComparison]
    aggregate: Aggregate
    choices: ChoiceDiversity
    action_types: PooledActionTypes
    feedback: FeedbackComparison | None = Field(description="None without feedback files.")


def _side(source: Path, policies: list[str], traces: list[Trace], unpaired: list[Trace]) -> Side:
    """What :class:`Side` says of one side's traces."""
    return Side(
        source=str(source),
        policies=policies,
        traces=len(traces),
        paired=len(traces) - len(unpaired),
        unpaired=[t.session_id for t in unpaired],
        steps_after_terminate=sum(t.after_terminate for t in traces),
        products_from=dict(Counter(t.products_from for t in traces)),
    )


def compare_runs(
    a: Path,
    b: Path,
    config: CompareConfig | None = None,
    feedback: tuple[Path, Path] | None = None,
) -> TwinComparison:
    """Compare the traces of ``a`` (the person) with those of ``b`` (the twin).

    Args:
        a, b: run directories (their ``steps.jsonl``) or steps files.
        config: pairing and intervals (defaults: by task, bootstrap 95%).
        feedback: A's and B's feedback files, ``{session id: {question: answer}}``.

    Raises:
        TwinsError, ReplayError: a file is missing or malformed, or no trace pairs.
    """
    config = config or CompareConfig()
    file_a, policies_a, traces_a = load_traces(a, config)
    file_b, policies_b, traces_b = load_traces(b, config)
    pairing = pair_traces(traces_a, traces_b, config.pair_by)
    if not pairing.pairs:
        raise TwinsError(
            f"no trace of {file_a} pairs with one of {file_b} by {config.pair_by.value} "
            "(try --pair-by session for a replay of recorded sessions, or order)"
        )
    answers = (load_feedback(feedback[0]), load_feedback(feedback[1])) if feedback else None
    pairs = [compare_pair(k, x, y, config.targets, answers) for k, x, y in pairing.pairs]
    return TwinComparison(
        config=config,
        a=_side(file_a, policies_a, traces_a, pairing.unpaired_a),
        b=_side(file_b, policies_b, traces_b, pairing.unpaired_b),
        pairs=pairs,
        aggregate=aggregate(pairs, config),
        choices=choice_diversity(pairs, config),
        action_types=pooled_action_types(pairs),
        feedback=None
        if answers is None
        else FeedbackComparison(
            pairs_with_feedback=sum(p.feedback is not None for p in pairs),
            unknown_a=sorted(answers[0].keys() - {t.session_id for t in traces_a}),
            unknown_b=sorted(answers[1].keys() - {t.session_id for t in traces_b}),
            questions=compare_feedback(pairs, config),
        ),
    )


# ---- the command -------------------------------------------------------------------------


def compare_command(
    a: Path = typer.Argument(..., help="The person's runs: a run directory or a steps.jsonl."),
    b: Path = typer.Argument(..., help="The twin's runs: a run directory or a steps.jsonl."),
    pair_by: PairBy = typer.Option(
        PairBy.task,
        "--pair-by",
        help="Pair traces by task, persona-task, session (a replay's task is the session it "
        "replays) or order; several traces of a key pair in order.",
    ),
    targets: bool = typer.Option(
        False, "--targets", help="Also compare (type, target) sequences (target: the element)."
    ),
    feedback_a: Path | None = typer.Option(
        None, "--feedback-a", help="A's post-task feedback: JSON {session id: {question: answer}}."
    ),
    feedback_b: Path | None = typer.Option(None, "--feedback-b", help="B's, likewise."),
    ci: CiMethod = typer.Option(
        CiMethod.bootstrap, "--ci", help="Intervals of the means: bootstrap or t."
    ),
    resamples: int = typer.Option(10_000, min=100, help="Bootstrap resamples."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    product_url: list[str] | None = typer.Option(
        None,
        "--product-url",
        help="A regular expression of product-page URLs with an `id` group (repeatable; "
        "replaces the defaults: webserv's /products/<id>, Amazon's /dp/<ASIN>).",
    ),
    json_output: Json = False,
) -> None:
    """Compare a person's traces (A) with their twin's (B) on the same tasks, pair by pair and
    over all pairs with 95% intervals (Rufus digital twins, arXiv 2509.21501)."""
    from webserv.behaviour.replay import ReplayError

    if (feedback_a is None) != (feedback_b is None):
        raise fail("--feedback-a and --feedback-b go together")
    settings: dict[str, Any] = {"product_urls": product_url} if product_url else {}
    try:
        config = CompareConfig(
            pair_by=pair_by, targets=targets, ci=ci, resamples=resamples, seed=seed, **settings
        )
    except ValidationError as err:
        messages = (str(e["msg"]).removeprefix("Value error, ") for e in err.errors())
        raise fail("; ".join(messages)) from err
    feedback = (feedback_a, feedback_b) if feedback_a and feedback_b else None
    try:
        result = compare_runs(a, b, config, feedback)
    except (TwinsError, ReplayError) as err:
        raise fail(str(err)) from err
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
        return
    print_comparison(result)


def _interval(e: Estimate | None, digits: int = 3) -> list[str]:
    from webserv.behaviour.cli import num

    if e is None:
        return ["-", "-", "0"]
    low_high = "-" if e.low is None else f"{num(e.low, digits)} .. {num(e.high, digits)}"
    return [num(e.value, digits), low_high, str(e.n)]


def _method(config: CompareConfig) -> str:
    if config.ci is CiMethod.t:
        return "Student t"
    return f"percentile bootstrap over pairs, {config.resamples} resamples, seed {config.seed}"


def _short(text: str, width: int = 28) -> str:
    """``text`` cut in the middle to ``width``: session ids differ at both ends."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def _pair_labels(pairs: Sequence[PairComparison]) -> list[str]:
    """Each pair's key, numbered from its second pair on (``48 #2``: the second pair of 48)."""
    seen: Counter[str] = Counter()
    labels = []
    for pair in pairs:
        seen[pair.key] += 1
        count = seen[pair.key]
        labels.append(_short(pair.key, 24) + (f" #{count}" if count > 1 else ""))
    return labels


def _sequence_rows(pairs: Sequence[PairComparison]) -> list[list[str]]:
    from webserv.behaviour.cli import num

    return [
        [
            label,
            str(p.a.length),
            str(p.b.length),
            f"{p.length_difference:+d}",
            num(p.action_type_jsd),
            str(p.action_sequence.edit_distance),
            num(p.action_sequence.edit_distance_normalised, 2),
            str(p.action_sequence.lcs),
            num(p.action_sequence.lcs_normalised, 2),
            *(
                [num(t.edit_distance_normalised, 2), num(t.lcs_normalised, 2)]
                if (t := p.target_sequence)
                else []
            ),
        ]
        for label, p in zip(_pair_labels(pairs), pairs, strict=True)
    ]


def _choice_rows(pairs: Sequence[PairComparison]) -> list[list[str]]:
    from webserv.behaviour.cli import num

    return [
        [
            label,
            _short(", ".join(p.a.products_viewed) or "-"),
            _short(", ".join(p.b.products_viewed) or "-"),
            num(p.products_jaccard, 2),
            f"{_short(p.a.choice.label)} ({p.a.choice.kind})",
            f"{_short(p.b.choice.label)} ({p.b.choice.kind})",
            "yes" if p.same_choice else "no",
        ]
        for label, p in zip(_pair_labels(pairs), pairs, strict=True)
    ]


def _side_line(name: str, side: Side) -> str:
    policies = ", ".join(side.policies) or "policy not recorded"
    products = ", ".join(f"{n} by {source}" for source, n in side.products_from.items())
    return (
        f"{name}: {side.source} ({policies}): {side.traces} traces, {side.paired} paired, "
        f"{len(side.unpaired)} unpaired; products viewed: {products}; "
        f"{side.steps_after_terminate} steps after a first terminate left out"
    )


def print_comparison(result: TwinComparison, console: Console | None = None) -> None:
    """The comparison as tables: pairs, means with intervals, choices, action types, feedback."""
    from rich.console import Console

    from webserv.behaviour.cli import SESSION_ROWS, table

    console = console or Console()
    for name, side in (("A (person)", result.a), ("B (twin)", result.b)):
        console.print(_side_line(name, side), highlight=False, soft_wrap=True)
    config = result.config
    pairs = result.pairs[:SESSION_ROWS]
    shown = f" (first {SESSION_ROWS} of {len(result.pairs)}; --json has all)"
    title = f"pairs by {config.pair_by.value}" + (shown if len(result.pairs) > SESSION_ROWS else "")
    columns = ["pair", "len A", "len B", "B-A", "type JS", "edit", "edit/max", "LCS", "LCS/max"]
    columns += ["target edit/max", "target LCS/max"] if config.targets else []
    console.print(table(f"{title}: action sequences", columns, _sequence_rows(pairs)))
    columns = ["pair", "viewed A", "viewed B", "Jaccard", "choice A", "choice B", "same"]
    console.print(table(f"{title}: products", columns, _choice_rows(pairs)))
    rows = [
        [Aggregate.model_fields[name].description or name, *_interval(estimate)]
        for name, estimate in result.aggregate
        if estimate is not None
    ]
    title = f"mean over pairs, {config.confidence:.0%} interval ({_method(config)})"
    console.print(table(title, ["measure", "mean", "interval", "n"], rows))
    _print_choices(console, result)
    if result.feedback is not None:
        _print_feedback(console, result.feedback)


def _print_choices(console: Console, result: TwinComparison) -> None:
    from webserv.behaviour.cli import num, pct, table

    choices = result.choices
    rows = [
        ["A (person)", num(choices.entropy_a), "", str(len(choices.choices_a))],
        ["B (twin)", num(choices.entropy_b), "", str(len(choices.choices_b))],
        ["B - A", *_interval(choices.difference)[:2], "-"],
    ]
    title = (
        f"diversity of final choices over {choices.difference.n} pairs: Shannon entropy (bits); "
        f"{result.config.confidence:.0%} paired bootstrap interval of the difference"
    )
    console.print(table(title, ["side", "entropy", "interval", "distinct choices"], rows))
    pooled = result.action_types
    rows = [
        [kind, pct(pooled.a.get(kind, 0.0)), pct(pooled.b.get(kind, 0.0))]
        for kind in sorted(pooled.a.keys() | pooled.b.keys())
    ]
    title = f"action types over the paired traces (JS divergence {pooled.js_divergence:.3f})"
    console.print(table(title, ["action type", "A %", "B %"], rows))


def _print_feedback(console: Console, feedback: FeedbackComparison) -> None:
    from webserv.behaviour.cli import table

    rows = [
        [
            q.question,
            q.kind,
            str(q.pairs),
            *(_interval(q.mean_difference)[:2] if q.kind == "numeric" else ["-", "-"]),
            *(_interval(q.mean_absolute_difference)[:2] if q.kind == "numeric" else ["-", "-"]),
            *(_interval(q.agreement)[:2] if q.kind == "categorical" else ["-", "-"]),
        ]
        for q in feedback.questions
    ]
    columns = ["question", "kind", "pairs", "B-A mean", "interval", "|B-A| mean", "interval"]
    columns += ["agreement", "interval"]
    title = f"post-task feedback ({feedback.pairs_with_feedback} pairs with both sides' answers)"
    console.print(table(title, columns, rows))
    for name, unknown in (("A", feedback.unknown_a), ("B", feedback.unknown_b)):
        if unknown:
            console.print(f"{len(unknown)} ids of {name}'s feedback name no trace of {name}")
