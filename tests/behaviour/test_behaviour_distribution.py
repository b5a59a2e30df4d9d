"""Distribution fidelity on hand-made session traces with answers worked out by hand."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from pydantic import ValidationError

from webserv.behaviour.distribution import (
    SessionTrace,
    TraceAction,
    compare,
    distribution_fidelity,
    distribution_report,
    js_divergence,
    purchased,
    session_length,
    total_variation,
)


def a(code: str) -> TraceAction:
    """c: click (other), b: purchase click, u: click of unknown type, t: type, x: terminate,
    n: no action."""
    return {
        "c": TraceAction(type="click", click_type="other"),
        "r": TraceAction(type="click", click_type="review"),
        "b": TraceAction(type="click", click_type="purchase"),
        "u": TraceAction(type="click"),
        "t": TraceAction(type="type_and_submit"),
        "x": TraceAction(type="terminate"),
        "n": TraceAction(type="none"),
    }[code]


def trace(sid: str, real: str, predicted: str, user: str | None = None, persona: str | None = None):
    return SessionTrace(
        session_id=sid,
        user_id=user,
        persona=persona,
        real=[a(c) for c in real],
        predicted=[a(c) for c in predicted],
    )


def test_divergences_by_hand():
    assert js_divergence({"a": 1, "b": 1}, {"a": 2, "b": 2}) == 0.0
    assert js_divergence({"a": 1}, {"b": 1}) == 1.0  # disjoint: the maximum, base 2
    assert total_variation({"a": 1}, {"b": 3}) == 1.0
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4)
    kl_p = math.log2(4 / 3)
    kl_q = 0.5 * math.log2(2 / 3) + 0.5 * math.log2(2)
    assert js_divergence({"a": 1}, {"a": 1, "b": 1}) == pytest.approx((kl_p + kl_q) / 2)
    assert js_divergence({"a": 1, "b": 1}, {"a": 1}) == pytest.approx((kl_p + kl_q) / 2)
    assert total_variation({"a": 1}, {"a": 1, "b": 1}) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-negative"):
        js_divergence({"a": 0}, {"a": 1})


def test_a_side_without_observations_has_no_divergence():
    c = compare(Counter({"click": 2}), Counter())
    assert c.real == {"click": 1.0} and c.predicted == {} and c.js_divergence is None


def test_sessions_end_at_their_first_terminate():
    assert session_length([a("c"), a("x"), a("b")]) == 2
    assert session_length([a("c"), a("c")]) == 2
    assert purchased([a("c"), a("x"), a("b")]) is False  # the purchase came after the end
    assert purchased([a("u"), a("b")]) is True
    assert purchased([a("u"), a("c")]) is None  # the unknown click may have been a purchase


TRACES = [
    # real: browse, buy; predicted: browse, then quits at once
    trace("s1", "cb", "xc", user="u1", persona="Tom"),
    # real: browse, type, quit; predicted: browse, type, quit (on time)
    trace("s2", "ctx", "ctx", user="u1", persona="Tom"),
    # real: browse, browse, quit; predicted: browse, no action, browse (never quits)
    trace("s3", "ccx", "cnc", user="u2"),
    # real: browse, buy, quit; predicted: buy, review, quit
    trace("s4", "cbx", "brx", user="u2", persona="Ann"),
]


def test_population_fidelity_by_hand():
    f = distribution_fidelity(TRACES)
    assert (f.sessions, f.steps) == (4, 11)
    # real: 7 clicks, 1 typed, 3 terminate; predicted: 6 clicks, 1 typed, 3 terminate, 1 none
    assert f.action_types.real == pytest.approx(
        {"click": 7 / 11, "terminate": 3 / 11, "type_and_submit": 1 / 11}
    )
    assert f.action_types.predicted == pytest.approx(
        {"click": 6 / 11, "none": 1 / 11, "terminate": 3 / 11, "type_and_submit": 1 / 11}
    )
    assert f.action_types.total_variation == pytest.approx(1 / 11)
    # real clicks: other 5, purchase 2; predicted clicks: other 4, purchase 1, review 1
    assert f.click_types is not None
    assert f.click_types.real == pytest.approx({"other": 5 / 7, "purchase": 2 / 7})
    assert f.click_types.predicted == pytest.approx(
        {"other": 4 / 6, "purchase": 1 / 6, "review": 1 / 6}
    )
    assert f.click_types.total_variation == pytest.approx(1 / 6)
    assert 0 < f.click_types.js_divergence < 1
    # lengths: real 2, 3, 3, 3; predicted 1 (quits at once), 3, 3 (never quits), 3
    length = f.session_length
    assert (length.real_mean, length.predicted_mean) == (2.75, 2.5)
    assert (length.real_median, length.predicted_median) == (3, 3)
    assert length.bins.real == {"2": 0.25, "3-4": 0.75}
    assert length.bins.predicted == {"1": 0.25, "3-4": 0.75}
    # purchases: real s1, s4; predicted s4 (s1's purchase comes after its terminate)
    assert f.purchase is not None and f.purchase.sessions == 4
    assert (f.purchase.real_rate, f.purchase.predicted_rate) == (0.5, 0.25)
    assert f.purchase.total_variation == pytest.approx(0.25)
    end = f.terminate
    assert (end.early, end.on_time, end.late, end.missed, end.neither) == (1, 2, 0, 1, 0)
    assert end.real_relative == 1.0 and end.real_steps_before_end == 0.0
    # predicted ends: s1 at 1 of 2, s2 at 3 of 3, s4 at 3 of 3
    assert end.predicted_relative == pytest.approx((0.5 + 1 + 1) / 3)
    assert end.predicted_steps_before_end == pytest.approx(1 / 3)


def test_late_and_neither():
    f = distribution_fidelity([trace("s", "cxc", "ccx"), trace("t", "cc", "cc")])
    assert (f.terminate.late, f.terminate.neither) == (1, 1)


def test_unknown_real_click_types_leave_click_and_purchase_comparisons_out():
    f = distribution_fidelity([trace("s", "uu", "cb")])
    assert f.click_types is None and f.purchase is None
    assert f.action_types.js_divergence == 0.0


def test_per_user_and_per_persona():
    r = distribution_report(TRACES)
    assert r.population.sessions == 4
    assert set(r.per_user) == {"u1", "u2"} and set(r.per_persona) == {"Tom", "Ann"}
    assert r.per_user["u1"].sessions == 2 and r.per_user["u1"].terminate.early == 1
    assert r.per_persona["Ann"].purchase is not None
    assert r.per_persona["Ann"].purchase.predicted_rate == 1.0
    assert distribution_report([trace("s", "c", "c")]).per_user == {}


def test_a_trace_pairs_every_real_step_with_a_prediction():
    with pytest.raises(ValidationError, match="one prediction per real step"):
        trace("s", "cc", "c")
    with pytest.raises(ValidationError, match="at least one step"):
        trace("s", "", "")
    with pytest.raises(ValueError, match="no sessions"):
        distribution_fidelity([])
