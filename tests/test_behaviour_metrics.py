"""Fidelity metrics on hand-made (predicted, gold) sets with answers worked out by hand."""

from __future__ import annotations

import pytest

from webserv.behaviour.metrics import exact_match, fidelity
from webserv.behaviour.rewards import GoldAction, OperaAction


def act(kind: str, name: str = "", text: str = "") -> OperaAction:
    return OperaAction(type=kind, name=name, text=text)


def gold(kind: str, name: str = "", text: str = "") -> GoldAction:
    return GoldAction(type=kind, name=name, text=text)


def test_exact_match_per_type():
    assert exact_match(act("click", "12"), gold("click", "12"))
    assert not exact_match(act("click", "13"), gold("click", "12"))
    assert not exact_match(act("terminate"), gold("click", "12"))
    assert not exact_match(None, gold("terminate"))
    assert exact_match(act("terminate"), gold("terminate"))
    search = gold("type_and_submit", "10", "a b c e")
    assert exact_match(act("type_and_submit", "10", "a b c d"), search)  # ROUGE-L 0.75 counts
    assert not exact_match(act("type_and_submit", "10", "a b"), search)
    assert not exact_match(act("type_and_submit", "11", "a b c e"), search)  # name exactly


def test_hand_made_set():
    pairs = [
        (act("click", "1"), gold("click", "1")),
        (act("click", "2"), gold("click", "2")),
        (act("click", "9"), gold("click", "3")),  # right type, wrong target
        (act("terminate"), gold("click", "4")),
        (act("terminate"), gold("click", "5")),
        (None, gold("click", "6")),  # format error
        (
            act("type_and_submit", "10", "water bottle"),
            gold("type_and_submit", "10", "steel water bottle"),
        ),
        (act("type_and_submit", "10", "bottle"), gold("type_and_submit", "10", "water bottle")),
        (act("terminate"), gold("terminate")),
        (act("click", "7"), gold("terminate")),
    ]
    m = fidelity(pairs)
    assert m.n == 10 and m.exact == 4 and m.unusable == 1
    assert m.exact_accuracy == pytest.approx(0.4)
    assert m.type_accuracy == pytest.approx(0.6)
    click, search, stop = (m.per_class[k] for k in ("click", "type_and_submit", "terminate"))
    # click: P 3/4, R 3/6 -> F1 0.6; type_and_submit: 1; terminate: P 1/3, R 1/2 -> F1 0.4
    assert (click.support, click.predicted, click.type_correct, click.exact) == (6, 4, 3, 2)
    assert click.f1 == pytest.approx(0.6) and click.exact_accuracy == pytest.approx(2 / 6)
    assert search.f1 == pytest.approx(1.0) and search.exact_accuracy == pytest.approx(0.5)
    assert stop.precision == pytest.approx(1 / 3) and stop.f1 == pytest.approx(0.4)
    assert m.type_macro_f1 == pytest.approx((0.6 + 1.0 + 0.4) / 3)
    assert m.type_weighted_f1 == pytest.approx((0.6 * 6 + 1.0 * 2 + 0.4 * 2) / 10)
    assert m.type_macro_f1 != pytest.approx(m.type_weighted_f1)
    assert m.predicted_counts == {"click": 4, "type_and_submit": 2, "terminate": 3, "none": 1}


def test_always_terminate_shows_per_class():
    golds = [gold("click", "1"), gold("click", "2"), gold("click", "3")]
    golds += [gold("type_and_submit", "10", "tea"), gold("terminate")]
    m = fidelity((act("terminate"), g) for g in golds)
    assert m.exact_accuracy == pytest.approx(0.2)
    assert m.per_class["terminate"].type_accuracy == 1.0
    assert m.per_class["click"].type_accuracy == 0.0
    assert m.per_class["type_and_submit"].type_accuracy == 0.0
    assert m.type_macro_f1 == pytest.approx((1 / 3) / 3)  # F1 of terminate: P 1/5, R 1
    assert m.type_weighted_f1 == pytest.approx((1 / 3) / 5)


def test_a_type_nobody_uses_is_left_out_of_the_macro_average():
    m = fidelity([(act("click", "1"), gold("click", "1")), (act("click", "2"), gold("click", "3"))])
    assert m.type_macro_f1 == 1.0 and m.per_class["terminate"].support == 0
    assert m.exact_accuracy == 0.5


def test_nothing_to_score_is_an_error():
    with pytest.raises(ValueError, match="no"):
        fidelity([])
