"""Truthful calibration: the exact ATB sweep, hand-worked errors, and truthfulness itself."""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Sequence
from statistics import fmean

import pytest

from webserv.behaviour.calibration import (
    atb,
    atb_classwise,
    binned_l1,
    calibration_report,
    probabilities_from_logprobs,
    probabilities_from_samples,
    quantile_binned_l2,
    top_label_ece,
)
from webserv.behaviour.rewards import ACTION_TYPES, OperaAction

CLICK, TYPE, STOP = ACTION_TYPES


def atb_by_integral(predictions: Sequence[float], outcomes: Sequence[int], grid: int) -> float:
    """ATB's definition integrated numerically: the midpoint rule over ``grid`` cells of q."""
    pairs = sorted(zip(predictions, outcomes, strict=True))
    values = [r for r, _ in pairs]
    prefix = [0.0]
    for r, y in pairs:
        prefix.append(prefix[-1] + r - y)
    total, area = prefix[-1], 0.0
    for cell in range(grid):
        below = prefix[bisect_left(values, (cell + 0.5) / grid)]  # sum over r < q
        area += below**2 + (total - below) ** 2
    return area / grid / len(pairs) ** 2


def test_exact_sweep_equals_the_integral():
    rng = random.Random(3)
    for size in (1, 2, 7, 40):
        predictions = [round(rng.random(), 2) for _ in range(size)]  # rounded: ties happen
        outcomes = [int(rng.random() < 0.4) for _ in range(size)]
        exact = atb(predictions, outcomes)
        assert exact == pytest.approx(atb_by_integral(predictions, outcomes, 200_000), abs=1e-6)
    assert atb([0.0, 1.0], [0, 1]) == 0.0 and atb([1.0], [0]) == 1.0


def test_atb_by_hand():
    # biases 0.2 and -0.2: the two-bin split has them apart only for q in (0.2, 0.8]
    assert atb([0.2, 0.8], [0, 1]) == pytest.approx(0.6 * (0.2**2 + 0.2**2) / 4)
    with pytest.raises(ValueError, match="probabilities"):
        atb([1.5], [1])
    with pytest.raises(ValueError, match="no predictions"):
        atb([], [])


def test_binned_errors_by_hand():
    predictions, outcomes = [0.1, 0.2, 0.3, 0.9], [0, 1, 0, 1]
    # equal-count bins {0.1, 0.2}, {0.3, 0.9}: biases (0.1 - 0.8) and (0.3 - 0.1)
    assert quantile_binned_l2(predictions, outcomes, 2) == pytest.approx((0.7**2 + 0.2**2) / 16)
    # one bin: the squared total bias
    assert quantile_binned_l2(predictions, outcomes, 1) == pytest.approx(0.5**2 / 16)
    # equal-width bins [0, .5), [.5, 1]: |0.1 + 0.2 + 0.3 - 1| + |0.9 - 1|, over 4
    assert binned_l1(predictions, outcomes, 2) == pytest.approx((0.4 + 0.1) / 4)
    vectors = [{CLICK: 0.6, TYPE: 0.4}, {STOP: 0.9, CLICK: 0.1}, {TYPE: 0.5, STOP: 0.5}]
    # top labels: click 0.6 (wrong), terminate 0.9 (right), type 0.5 (a tie: type comes
    # before terminate, and is right); bins of width 1/4: {0.5, 0.6} and {0.9}
    labels = [TYPE, STOP, TYPE]
    assert top_label_ece(vectors, labels, bins=4) == pytest.approx((0.6 - 0.5 + 0.1) / 3)
    per_class = atb_classwise(vectors, labels)
    assert per_class[CLICK] == pytest.approx(atb([0.6, 0.1, 0.0], [0, 0, 0]))


def sharpened(p: dict[str, float], temperature: float) -> dict[str, float]:
    weights = {k: v ** (1 / temperature) for k, v in p.items()}
    return {k: v / sum(weights.values()) for k, v in weights.items()}


def drawn(rng: random.Random, p: dict[str, float]) -> str:
    return rng.choices(list(p), weights=list(p.values()))[0]


def test_the_truth_scores_lower_than_a_sharpened_predictor():
    rng = random.Random(11)
    truth, labels = [], []
    for _ in range(3000):
        weights = [rng.random() ** 2 for _ in ACTION_TYPES]
        p = {k: w / sum(weights) for k, w in zip(ACTION_TYPES, weights, strict=True)}
        truth.append(p)
        labels.append(drawn(rng, p))
    honest = calibration_report(truth, labels)
    sharp = calibration_report([sharpened(p, 0.5) for p in truth], labels)
    assert honest.atb_classwise < sharp.atb_classwise / 10
    assert honest.l2_qece_classwise < sharp.l2_qece_classwise / 10
    assert all(honest.atb_per_class[k] < sharp.atb_per_class[k] for k in ACTION_TYPES)


def test_top_label_ece_can_prefer_a_sharpened_predictor():
    """Confident truths (top class 0.91, 0.95, 0.99) on 20 steps, sharpened to near 1.

    A truthful report leaves a bin's summed bias at the labels' noise, which for rare errors
    is skewed: E|W - mu| = 2 mu e^-mu > mu for mu < ln 2 expected errors in a bin. Sharpened,
    every step sits in the top bin and the error is just the errors' count, mu: lower. In
    expectation (here: the mean over many draws) top-label ECE prefers the lie; the truthful
    classwise ATB does not.
    """
    rng = random.Random(5)
    truth = [
        {CLICK: top, TYPE: (1 - top) * 2 / 3, STOP: (1 - top) / 3} for top in [0.91, 0.95, 0.99] * 7
    ][:20]
    sharp = [sharpened(p, 0.2) for p in truth]
    honest_top, sharp_top, honest_atb, sharp_atb = [], [], [], []
    for _ in range(1000):
        labels = [drawn(rng, p) for p in truth]
        honest_top.append(top_label_ece(truth, labels))
        sharp_top.append(top_label_ece(sharp, labels))
        honest_atb.append(fmean(atb_classwise(truth, labels).values()))
        sharp_atb.append(fmean(atb_classwise(sharp, labels).values()))
    assert fmean(sharp_top) < fmean(honest_top) - 0.004
    assert fmean(honest_atb) < fmean(sharp_atb) * 0.75


def test_probability_vectors_from_samples_and_logprobs():
    samples = [OperaAction(type="click", name="1")] * 3 + [OperaAction(type=""), None]
    samples += [OperaAction(type="terminate")]
    assert probabilities_from_samples(samples) == {CLICK: 0.75, TYPE: 0.0, STOP: 0.25}
    assert probabilities_from_samples([None, OperaAction(type="")]) is None
    listed = probabilities_from_logprobs({"click": -0.5, " input": -1.5})
    # terminate, not listed, shares the mass left: 1 - e^-0.5 - e^-1.5
    rest = 1 - 0.6065306597 - 0.2231301601
    assert listed[STOP] == pytest.approx(rest, abs=1e-9)
    assert listed[TYPE] == pytest.approx(0.2231301601, abs=1e-9)
    assert sum(listed.values()) == pytest.approx(1.0)
    renormalised = probabilities_from_logprobs({"click": -0.1, "type_and_submit": -0.1, "x": 0})
    assert renormalised[CLICK] == pytest.approx(0.5) and renormalised[STOP] == 0.0
    with pytest.raises(ValueError, match="no candidate"):
        probabilities_from_logprobs({"maybe": -0.1})


def test_vectors_and_labels_are_checked():
    with pytest.raises(ValueError, match="outside the classes"):
        atb_classwise([{CLICK: 1.0}], ["scroll"])
    with pytest.raises(ValueError, match="not a probability vector"):
        atb_classwise([{CLICK: 0.0}], [CLICK])
    with pytest.raises(ValueError, match="one probability vector per label"):
        atb_classwise([{CLICK: 1.0}], [])
    report = calibration_report([{CLICK: 2.0, STOP: 2.0}], [CLICK])  # normalised to 1/2, 1/2
    assert report.n == 1 and report.top_label_ece == pytest.approx(0.5)
