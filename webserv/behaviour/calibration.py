"""Truthful calibration of stated probabilities over action types.

A shopper model that says "70% click, 20% type, 10% terminate" is calibrated when, over the
steps where it says so, the shopper clicks 70% of the time. Binned ECE, the usual measure, is
not *truthful* (Haghtalab et al. 2024): on a finite sample a predictor can expect a lower ECE
by reporting distorted probabilities than by reporting the true ones, so ranking models by it
rewards lying. Hartline, Hu and Wu (arXiv:2508.13100) give a perfectly truthful binary measure,
the averaged two-bin calibration error::

    ATB = integral over q in [0, 1] of (1 / T^2) [ (sum_{r_i < q} (r_i - y_i))^2
                                                  + (sum_{r_i >= q} (r_i - y_i))^2 ] dq

over T predictions r_i of outcomes y_i in {0, 1}. For a predictor reporting the true
probabilities only the labels' own variance remains, and any other report adds its squared
bias: the expectation is lowest for the truth. Lu, Wu, Hartline and Hu (arXiv:2510.06388)
show that applying a truthful binary measure one-vs-rest to each class (each class's
predictions re-sorted) and averaging stays truthful, while scoring only the top label's
confidence does not. This module gives, over probability vectors and labels:

* :func:`atb_classwise`: ATB per class, averaged; computed exactly by sorting a class's
  predictions and sweeping q across them with cumulative bias sums (the bins change only at
  the predicted values, so the integrand is a step function);
* :func:`quantile_l2_ece`: its equal-mass binned variant (l2-qECE-classwise): per class, sorted
  predictions cut into bins of equal count, the squared summed bias of each bin added up and
  divided by T^2, averaged over classes; truthful because the bins depend on the predictions
  only;
* for comparison, the usual non-truthful :func:`l1_ece_classwise` (equal-width bins) and
  :func:`top_label_ece` (the confidence of the most likely class against whether it was
  right).

A step's probability vector comes from the model: :func:`probabilities_from_samples` (N sampled
replies) or :func:`probabilities_from_logprobs` (the top-k log-probabilities of the action
type's token).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise

from pydantic import BaseModel, Field

from webserv.behaviour.rewards import ACTION_TYPES, OperaAction
from webserv.policy.parse import OPERA_TYPES


def atb(predictions: Sequence[float], outcomes: Sequence[bool | int]) -> float:
    """The averaged two-bin calibration error of binary predictions, computed exactly."""
    pairs = sorted(zip(_probabilities(predictions), outcomes, strict=True))
    if not pairs:
        raise ValueError("no predictions to calibrate")
    total = sum(r - y for r, y in pairs)
    area, below, previous, i = 0.0, 0.0, 0.0, 0
    while i < len(pairs):
        value = pairs[i][0]
        # for q in (previous, value] the bin below q holds exactly the predictions seen so far
        area += (value - previous) * (below**2 + (total - below) ** 2)
        while i < len(pairs) and pairs[i][0] == value:
            below += pairs[i][0] - pairs[i][1]
            i += 1
        previous = value
    area += (1.0 - previous) * total**2
    return area / len(pairs) ** 2


def quantile_binned_l2(
    predictions: Sequence[float], outcomes: Sequence[bool | int], bins: int
) -> float:
    """Squared summed bias of equal-count bins of the sorted predictions, over T^2."""
    pairs = sorted(zip(_probabilities(predictions), outcomes, strict=True))
    if not pairs or bins < 1:
        raise ValueError("needs predictions and at least one bin")
    t = len(pairs)
    edges = [round(b * t / bins) for b in range(bins + 1)]
    return sum(sum(r - y for r, y in pairs[lo:hi]) ** 2 for lo, hi in pairwise(edges)) / t**2


def binned_l1(predictions: Sequence[float], outcomes: Sequence[bool | int], bins: int) -> float:
    """ECE with equal-width bins: sum over bins of |summed bias| / T."""
    values = _probabilities(predictions)
    if not values or bins < 1:
        raise ValueError("needs predictions and at least one bin")
    biases = [0.0] * bins
    for r, y in zip(values, outcomes, strict=True):
        biases[min(int(r * bins), bins - 1)] += r - y
    return sum(abs(b) for b in biases) / len(values)


def _probabilities(values: Sequence[float]) -> list[float]:
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError("predictions must be probabilities in [0, 1]")
    return list(values)


def _vectors(
    probabilities: Sequence[Mapping[str, float]], labels: Sequence[str], classes: Sequence[str]
) -> list[list[float]]:
    """Each step's probabilities in ``classes`` order, normalised (a class left out is 0)."""
    if len(probabilities) != len(labels) or not labels:
        raise ValueError("needs one probability vector per label, at least one")
    if unknown := set(labels) - set(classes):
        raise ValueError(f"labels outside the classes: {sorted(unknown)}")
    vectors = []
    for p in probabilities:
        row = [float(p.get(c, 0.0)) for c in classes]
        total = sum(row)
        if total <= 0 or min(row) < 0:
            raise ValueError(f"not a probability vector: {dict(p)}")
        vectors.append([v / total for v in row])
    return vectors


def _classwise(
    probabilities: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str],
    measure: Callable[[Sequence[float], Sequence[bool]], float],
) -> dict[str, float]:
    """``measure`` of each class one-vs-rest: its probability against the label being it."""
    vectors = _vectors(probabilities, labels, classes)
    return {
        kind: measure([v[k] for v in vectors], [label == kind for label in labels])
        for k, kind in enumerate(classes)
    }


def atb_classwise(
    probabilities: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str] = ACTION_TYPES,
) -> dict[str, float]:
    """ATB of each class one-vs-rest (truthful); average the values for the classwise error."""
    return _classwise(probabilities, labels, classes, atb)


def quantile_l2_ece(
    probabilities: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str] = ACTION_TYPES,
    bins: int = 10,
) -> dict[str, float]:
    """l2-qECE of each class one-vs-rest (truthful); average them for l2-qECE-classwise."""
    return _classwise(probabilities, labels, classes, lambda r, y: quantile_binned_l2(r, y, bins))


def l1_ece_classwise(
    probabilities: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str] = ACTION_TYPES,
    bins: int = 15,
) -> dict[str, float]:
    """Equal-width binned l1-ECE of each class one-vs-rest (not truthful)."""
    return _classwise(probabilities, labels, classes, lambda r, y: binned_l1(r, y, bins))


def top_label_ece(
    probabilities: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str] = ACTION_TYPES,
    bins: int = 15,
) -> float:
    """Equal-width binned ECE of the top class's probability against it being the label.

    Not truthful. Ties go to the class first in ``classes``.
    """
    vectors = _vectors(probabilities, labels, classes)
    confidence = [max(v) for v in vectors]
    right = [classes[v.index(max(v))] == label for v, label in zip(vectors, labels, strict=True)]
    return binned_l1(confidence, right, bins)


def probabilities_from_samples(
    samples: Sequence[OperaAction | None], classes: Sequence[str] = ACTION_TYPES
) -> dict[str, float] | None:
    """Each class's share of N replies sampled for one step; None if no sample has a class.

    Samples without a usable action are left out: the vector is the model's distribution over
    action types given that it answers with one.
    """
    kinds = [s.type for s in samples if s is not None and s.type in classes]
    if not kinds:
        return None
    return {c: kinds.count(c) / len(kinds) for c in classes}


def probabilities_from_logprobs(
    logprobs: Mapping[str, float], classes: Sequence[str] = ACTION_TYPES
) -> dict[str, float]:
    """The distribution over ``classes`` from the log-probabilities of the type's first token.

    ``logprobs`` maps candidate tokens (``click``, ``input``, ...; OPeRA's names are read as
    webserv's) to natural-log probabilities, as a server's top-k returns them. A class the top-k
    left out shares what mass is left evenly: the server says only that it is less likely than
    the last listed candidate. The result is normalised over ``classes``.
    """
    mass = dict.fromkeys(classes, 0.0)
    for token, logprob in logprobs.items():
        kind = OPERA_TYPES.get(token.strip().strip('"').lower())
        if kind in mass:
            mass[kind] += math.exp(logprob)
    listed = sum(mass.values())
    if listed <= 0:
        raise ValueError(f"no candidate names one of {list(classes)}: {sorted(logprobs)}")
    missing = [c for c in classes if mass[c] == 0.0]
    for kind in missing:
        mass[kind] = max(0.0, 1.0 - listed) / len(missing)
    total = sum(mass.values())
    return {c: v / total for c, v in mass.items()}


class CalibrationReport(BaseModel):
    """Calibration of the stated probabilities over action types; 0 is perfectly calibrated."""

    n: int = Field(description="Steps with a probability vector.")
    classes: list[str]
    atb_classwise: float = Field(description="Truthful: mean over classes of one-vs-rest ATB.")
    atb_per_class: dict[str, float]
    l2_qece_classwise: float = Field(description="Truthful: equal-mass bins, squared bias.")
    qece_bins: int
    l1_ece_classwise: float = Field(description="Not truthful: equal-width bins, |bias|.")
    top_label_ece: float = Field(description="Not truthful: confidence of the top class.")
    ece_bins: int


def calibration_report(
    probabilities: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    classes: Sequence[str] = ACTION_TYPES,
    qece_bins: int = 10,
    ece_bins: int = 15,
) -> CalibrationReport:
    """Every calibration error of ``probabilities`` (one vector per step) against ``labels``."""
    per_class = atb_classwise(probabilities, labels, classes)
    qece = quantile_l2_ece(probabilities, labels, classes, qece_bins)
    l1 = l1_ece_classwise(probabilities, labels, classes, ece_bins)
    return CalibrationReport(
        n=len(labels),
        classes=list(classes),
        atb_classwise=sum(per_class.values()) / len(classes),
        atb_per_class=per_class,
        l2_qece_classwise=sum(qece.values()) / len(classes),
        qece_bins=qece_bins,
        l1_ece_classwise=sum(l1.values()) / len(classes),
        top_label_ece=top_label_ece(probabilities, labels, classes, ece_bins),
        ece_bins=ece_bins,
    )
