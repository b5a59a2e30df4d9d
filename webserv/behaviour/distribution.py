"""Distribution fidelity: does the policy act like the shoppers in aggregate, not only per step?

Step accuracy says how often the policy picks the recorded action; it does not say whether the
policy's behaviour *looks like* the shoppers': a policy can be right half the time and still
never purchase, or quit every session at once. Customer-R1 (arXiv:2510.07230) claims its
policy "better matches users' action distribution" without saying how it measured it; PAARS
(arXiv:2503.24228) compares distributions with KL divergence. Here, over the population, per
user and per persona, predicted against real:

* **action types** over the steps (``none``: no usable action) and **click types** over the
  clicks (``unknown``: a predicted click whose type cannot be derived), as distributions;
* **session length** (binned), the **purchase rate**, and **where terminate happens**: the
  terminate position relative to the session's recorded length and in steps before its end,
  with how many sessions the policy quits early, on time, late or never.

Each pair of distributions gets the Jensen-Shannon divergence (base 2, so in [0, 1]; unlike KL
it is finite when one side never does what the other does) and the total variation distance
(the largest difference in probability the two give to any set of outcomes).

Sessions are replayed offline (teacher forcing): at each recorded step the policy predicts the
next action from the recorded past, so a :class:`SessionTrace` holds the real actions and the
predicted ones side by side. A predicted session ends at its first predicted ``terminate``:
session length, purchase and terminate position read it up to there, while the per-step type
distributions take every prediction.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from statistics import fmean, median

from pydantic import BaseModel, Field, model_validator


class TraceAction(BaseModel):
    """One action of a trace, reduced to what the distributions compare."""

    type: str = Field(description="click, type_and_submit, terminate, or none (no action).")
    click_type: str | None = Field(None, description="A click's click type; None: unknown.")


class SessionTrace(BaseModel):
    """One recorded session: its real actions and the predictions made at each of its steps."""

    session_id: str
    user_id: str | None = None
    persona: str | None = None
    real: list[TraceAction]
    predicted: list[TraceAction]

    @model_validator(mode="after")
    def _paired(self) -> SessionTrace:
        if not self.real or len(self.real) != len(self.predicted):
            raise ValueError("a trace needs one prediction per real step, at least one step")
        return self


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence of two distributions (any non-negative weights), base 2."""
    p, q = _normalised(p), _normalised(q)
    total = 0.0
    for key in p.keys() | q.keys():
        a, b = p.get(key, 0.0), q.get(key, 0.0)
        middle = (a + b) / 2
        total += (a * math.log2(a / middle) if a else 0.0) + (
            b * math.log2(b / middle) if b else 0.0
        )
    return min(1.0, max(0.0, total / 2))


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Total variation distance of two distributions (any non-negative weights)."""
    p, q = _normalised(p), _normalised(q)
    return sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in p.keys() | q.keys()) / 2


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("a distribution needs non-negative weights with a positive sum")
    return {k: w / total for k, w in weights.items()}


class Comparison(BaseModel):
    """A real and a predicted distribution over the same outcomes, and how far apart they are."""

    real: dict[str, float] = Field(description="Share of each outcome.")
    predicted: dict[str, float]
    n_real: int = Field(description="Observations behind the real shares.")
    n_predicted: int
    js_divergence: float | None = Field(description="None when a side has no observation.")
    total_variation: float | None


def compare(real: Counter[str], predicted: Counter[str]) -> Comparison:
    """The two counted distributions side by side, with their divergences."""
    n_real, n_predicted = sum(real.values()), sum(predicted.values())
    both = n_real > 0 and n_predicted > 0
    return Comparison(
        real={k: v / n_real for k, v in sorted(real.items())},
        predicted={k: v / n_predicted for k, v in sorted(predicted.items())},
        n_real=n_real,
        n_predicted=n_predicted,
        js_divergence=js_divergence(real, predicted) if both else None,
        total_variation=total_variation(real, predicted) if both else None,
    )


def _first_terminate(actions: Sequence[TraceAction]) -> int | None:
    return next((i for i, a in enumerate(actions) if a.type == "terminate"), None)


def session_length(actions: Sequence[TraceAction]) -> int:
    """Steps up to and including the first terminate, else all of them."""
    end = _first_terminate(actions)
    return len(actions) if end is None else end + 1


def purchased(actions: Sequence[TraceAction]) -> bool | None:
    """A purchase click within the session; None when an unknown click might have been one."""
    session = actions[: session_length(actions)]
    if any(a.type == "click" and a.click_type == "purchase" for a in session):
        return True
    if any(a.type == "click" and a.click_type is None for a in session):
        return None
    return False


#: Session lengths are compared in doubling bins (lengths vary widely, most are short): the
#: longest length of each bin, then the label of the open last bin.
_LENGTH_BINS = ((1, "1"), (2, "2"), (4, "3-4"), (8, "5-8"), (16, "9-16"), (32, "17-32"))
_LONGER = "33+"
LENGTH_BIN_LABELS = (*(label for _, label in _LENGTH_BINS), _LONGER)


def _length_bin(length: int) -> str:
    return next((label for top, label in _LENGTH_BINS if length <= top), _LONGER)


class LengthComparison(BaseModel):
    """Session lengths, real against predicted (up to the first predicted terminate)."""

    real_mean: float
    predicted_mean: float
    real_median: float
    predicted_median: float
    bins: Comparison = Field(description="Lengths in bins 1, 2, 3-4, 5-8, 9-16, 17-32, 33+.")


def _lengths(traces: Sequence[SessionTrace]) -> LengthComparison:
    real = [session_length(t.real) for t in traces]
    predicted = [session_length(t.predicted) for t in traces]
    return LengthComparison(
        real_mean=fmean(real),
        predicted_mean=fmean(predicted),
        real_median=median(real),
        predicted_median=median(predicted),
        bins=compare(Counter(map(_length_bin, real)), Counter(map(_length_bin, predicted))),
    )


class PurchaseComparison(BaseModel):
    """Share of sessions with a purchase click, over the sessions whose real outcome is known."""

    sessions: int
    real_rate: float
    predicted_rate: float
    js_divergence: float
    total_variation: float


def _purchases(traces: Sequence[SessionTrace]) -> PurchaseComparison | None:
    judged = [
        (bought, bool(purchased(t.predicted)))
        for t in traces
        if (bought := purchased(t.real)) is not None
    ]
    if not judged:
        return None
    real = Counter("purchase" if r else "no_purchase" for r, _ in judged)
    predicted = Counter("purchase" if p else "no_purchase" for _, p in judged)
    return PurchaseComparison(
        sessions=len(judged),
        real_rate=real["purchase"] / len(judged),
        predicted_rate=predicted["purchase"] / len(judged),
        js_divergence=js_divergence(real, predicted),
        total_variation=total_variation(real, predicted),
    )


class TerminatePosition(BaseModel):
    """Where the policy first terminates each session, against where the shopper did.

    Positions are relative to the session's recorded length (1.0: its last step) and in steps
    before its end (0: the last step).
    """

    sessions: int
    early: int = Field(
        description="Terminated before the shopper did, or in a session the shopper never quit."
    )
    on_time: int = Field(description="Terminated at the step the shopper did.")
    late: int = Field(description="Terminated after the step the shopper did.")
    missed: int = Field(description="Never terminated a session the shopper quit.")
    neither: int = Field(description="Sessions neither terminated (e.g. ended in a purchase).")
    real_relative: float | None = Field(description="Mean, over the sessions the shopper quit.")
    predicted_relative: float | None = Field(description="Mean, over the sessions the policy quit.")
    real_steps_before_end: float | None
    predicted_steps_before_end: float | None


def _terminate_position(traces: Sequence[SessionTrace]) -> TerminatePosition:
    counts: Counter[str] = Counter()
    real_ends, predicted_ends = [], []
    for trace in traces:
        real, predicted = _first_terminate(trace.real), _first_terminate(trace.predicted)
        length = len(trace.real)
        if real is not None:
            real_ends.append((real, length))
        if predicted is not None:
            predicted_ends.append((predicted, length))
        if predicted is None:
            counts["neither" if real is None else "missed"] += 1
        elif real is None or predicted < real:
            counts["early"] += 1
        else:
            counts["on_time" if predicted == real else "late"] += 1

    def mean(ends: list[tuple[int, int]], position: Callable[[int, int], float]) -> float | None:
        return fmean(position(i, n) for i, n in ends) if ends else None

    return TerminatePosition(
        sessions=len(traces),
        early=counts["early"],
        on_time=counts["on_time"],
        late=counts["late"],
        missed=counts["missed"],
        neither=counts["neither"],
        real_relative=mean(real_ends, lambda i, n: (i + 1) / n),
        predicted_relative=mean(predicted_ends, lambda i, n: (i + 1) / n),
        real_steps_before_end=mean(real_ends, lambda i, n: n - 1 - i),
        predicted_steps_before_end=mean(predicted_ends, lambda i, n: n - 1 - i),
    )


class DistributionFidelity(BaseModel):
    """Predicted against real behaviour of one group of sessions."""

    sessions: int
    steps: int
    action_types: Comparison = Field(description="Per step; ``none``: no usable action.")
    click_types: Comparison | None = Field(
        description="Per click with a known real click type; None if no real click has one."
    )
    session_length: LengthComparison
    purchase: PurchaseComparison | None = Field(
        description="None when no session's real outcome is known (clicks of unknown type)."
    )
    terminate: TerminatePosition


def distribution_fidelity(traces: Sequence[SessionTrace]) -> DistributionFidelity:
    """How the predicted behaviour of ``traces`` is distributed against the real one."""
    if not traces:
        raise ValueError("no sessions to compare")
    real_steps = [a for t in traces for a in t.real]
    predicted_steps = [a for t in traces for a in t.predicted]
    real_clicks = Counter(a.click_type for a in real_steps if a.type == "click" and a.click_type)
    predicted_clicks = Counter(
        a.click_type or "unknown" for a in predicted_steps if a.type == "click"
    )
    return DistributionFidelity(
        sessions=len(traces),
        steps=len(real_steps),
        action_types=compare(
            Counter(a.type for a in real_steps), Counter(a.type for a in predicted_steps)
        ),
        click_types=compare(real_clicks, predicted_clicks) if real_clicks else None,
        session_length=_lengths(traces),
        purchase=_purchases(traces),
        terminate=_terminate_position(traces),
    )


class DistributionReport(BaseModel):
    """Distribution fidelity over the population, per user and per persona."""

    population: DistributionFidelity
    per_user: dict[str, DistributionFidelity] = Field(description="Sessions with a user_id.")
    per_persona: dict[str, DistributionFidelity] = Field(description="Sessions with a persona.")


def _by(
    traces: Sequence[SessionTrace], key: Callable[[SessionTrace], str | None]
) -> dict[str, DistributionFidelity]:
    groups: dict[str, list[SessionTrace]] = {}
    for trace in traces:
        if (value := key(trace)) is not None:
            groups.setdefault(value, []).append(trace)
    return {value: distribution_fidelity(rows) for value, rows in sorted(groups.items())}


def distribution_report(traces: Sequence[SessionTrace]) -> DistributionReport:
    """Distribution fidelity of ``traces``: the population, each user, each persona."""
    return DistributionReport(
        population=distribution_fidelity(traces),
        per_user=_by(traces, lambda t: t.user_id),
        per_persona=_by(traces, lambda t: t.persona),
    )
