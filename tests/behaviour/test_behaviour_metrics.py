"""Fidelity metrics on hand-made steps with answers worked out by hand."""

from __future__ import annotations

import pytest

from webserv.behaviour.metrics import (
    CLICK_TYPES,
    RULES,
    StepOutcome,
    behaviour_report,
    click_type_of,
    exact_match,
    fidelity,
    fine_type_match,
    session_outcome,
    step_metrics,
)
from webserv.behaviour.rewards import GoldAction, OperaAction


def act(kind: str, name: str = "", text: str = "") -> OperaAction:
    return OperaAction(type=kind, name=name, text=text)


def gold(kind: str, name: str = "", text: str = "") -> GoldAction:
    return GoldAction(type=kind, name=name, text=text)


def outcome(session: str, step: int, g: GoldAction, p: OperaAction | None, **kw) -> StepOutcome:
    return StepOutcome(session_id=session, step=step, gold=g, predicted=p, **kw)


def test_exact_match_by_rule_set():
    assert exact_match(act("click", "12"), gold("click", "12"))
    assert not exact_match(act("click", "13"), gold("click", "12"))
    assert not exact_match(act("terminate"), gold("click", "12"))
    assert not exact_match(None, gold("terminate"))
    assert exact_match(act("terminate"), gold("terminate"))
    search = gold("type_and_submit", "10", "a b c e")
    near = act("type_and_submit", "10", "a b c d")  # ROUGE-L 0.75
    assert not exact_match(near, search)  # OPeRA: the same text
    assert exact_match(near, search, "shop-r1")
    assert exact_match(act("type_and_submit", "10", "  a b c e "), search)  # trimmed
    assert not exact_match(act("type_and_submit", "10", "A b c e"), search)
    assert not exact_match(act("type_and_submit", "10", "a b"), search, "shop-r1")
    assert not exact_match(act("type_and_submit", "11", "a b c e"), search, "shop-r1")
    assert set(RULES) == {"opera", "shop-r1"}


HAND_MADE = [
    (act("click", "1"), gold("click", "1")),
    (act("click", "2"), gold("click", "2")),
    (act("click", "9"), gold("click", "3")),  # right type, wrong target
    (act("terminate"), gold("click", "4")),
    (act("terminate"), gold("click", "5")),
    (None, gold("click", "6")),  # format error
    (
        act("type_and_submit", "10", "water bottle"),  # ROUGE-L 0.8: Shop-R1 only
        gold("type_and_submit", "10", "steel water bottle"),
    ),
    (act("type_and_submit", "10", "bottle"), gold("type_and_submit", "10", "water bottle")),
    (act("terminate"), gold("terminate")),
    (act("click", "7"), gold("terminate")),
]


@pytest.mark.parametrize(("rules", "exact"), [("opera", 3), ("shop-r1", 4)])
def test_hand_made_set(rules, exact):
    m = fidelity(HAND_MADE, rules)
    assert m.rules == rules and m.n == 10 and m.exact == exact and m.unusable == 1
    assert m.exact_accuracy == pytest.approx(exact / 10)
    assert m.type_accuracy == pytest.approx(0.6)
    click, search, stop = (m.per_class[k] for k in ("click", "type_and_submit", "terminate"))
    # click: P 3/4, R 3/6 -> F1 0.6; type_and_submit: 1; terminate: P 1/3, R 1/2 -> F1 0.4
    assert (click.support, click.predicted, click.type_correct, click.exact) == (6, 4, 3, 2)
    assert click.f1 == pytest.approx(0.6) and click.exact_accuracy == pytest.approx(2 / 6)
    assert search.f1 == pytest.approx(1.0) and search.exact == exact - 3
    assert stop.precision == pytest.approx(1 / 3) and stop.f1 == pytest.approx(0.4)
    assert m.type_macro_f1 == pytest.approx((0.6 + 1.0 + 0.4) / 3)
    assert m.type_weighted_f1 == pytest.approx((0.6 * 6 + 1.0 * 2 + 0.4 * 2) / 10)
    assert m.predicted_counts == {"click": 4, "type_and_submit": 2, "terminate": 3, "none": 1}
    assert m.fine_type_accuracy == pytest.approx(0.6)  # every right type has its fields
    assert m.click_type is None  # element numbers say nothing of the click type


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
    with pytest.raises(ValueError, match="no"):
        behaviour_report([])


def test_fine_grained_type_needs_the_fields_of_the_type():
    assert fine_type_match(act("click", "x"), gold("click", "y"))  # right type, name filled
    assert not fine_type_match(act("click"), gold("click", "y"))
    assert not fine_type_match(act("type_and_submit", "box"), gold("type_and_submit", "b", "t"))
    assert fine_type_match(act("type_and_submit", "box", "tea"), gold("type_and_submit", "b", "t"))
    assert fine_type_match(act("terminate"), gold("terminate"))
    assert not fine_type_match(act("click", "x"), gold("terminate"))
    assert not fine_type_match(None, gold("terminate"))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("buybox.purchase_form.add_to_cart", "purchase"),
        ("buybox.one_time_purchase.purchase_form.buy_now", "purchase"),
        ("check_out", "purchase"),
        ("nav_bar.search_button", "search"),
        ("nav_bar.search_input", "search"),
        ("nav_bar.suggested_terms.green_tea", "suggested_term"),
        ("nav_bar.cart_button", "nav_bar"),
        ("nav_bar.homepage", "nav_bar"),
        ("reviews", "review"),
        ("reviews.popover.review_images.next", "review"),
        ("refinements_toolbar.price", "filter"),
        ("refinements.brand.acme", "filter"),
        ("active_item_list.green_tea_20_bags.delete", "quantity"),
        ("cart_side_bar.product_list.green_tea_20_bags.decrease_quantity_by_one", "quantity"),
        ("product_options.color.button_list.mint_green", "product_option"),
        ("product_options.color.drop_down_list.Black Style10", "product_option"),
        ("cart_side_bar.go_to_cart", "cart_side_bar"),
        ("cart_side_bar.product_list.green_tea_20_bags.product_image", "cart_side_bar"),
        ("pagination.next", "page_related"),
        ("active_item_list.green_tea_20_bags.checkbox", "cart_page_select"),
        ("search_results.green_tea_20_bags.product_name", "product_link"),
        ("active_item_list.green_tea_20_bags.product_detail", "product_link"),
        ("based_on_your_recent_views.green_tea_20_bags.product_title", "product_link"),
        ("go_to_cart", "other"),
        ("coupon.checkbox", "other"),
        ("banner.prev_page", "other"),
        ("active_item_list.green_tea_20_bags.save_for_later", "other"),
        ("12", None),  # a webserv element number
        ("Add to Cart", None),
        ("", None),
    ],
)
def test_click_type_follows_the_semantic_id(name, kind):
    assert click_type_of(name) == kind
    assert kind is None or kind in CLICK_TYPES


def click_step(i: int, gold_name: str, predicted: OperaAction | None, **kw) -> StepOutcome:
    return outcome("s", i, gold("click", gold_name), predicted, **kw)


def test_click_type_weighted_f1_on_gold_clicks_of_known_type():
    steps = [
        click_step(0, "reviews", act("click", "reviews.popover.close")),  # review, right
        click_step(1, "reviews", act("click", "nav_bar.cart_button")),  # review as nav_bar
        click_step(2, "nav_bar.cart_button", act("click", "nav_bar.homepage")),  # right
        click_step(3, "check_out", act("terminate")),  # purchase: not a click
        click_step(4, "12", act("click", "12")),  # unknown gold type: left out
        click_step(5, "13", act("click", "13"), gold_click_type="search"),  # given: search
        click_step(6, "x", act("click", "Add"), gold_click_type="Search"),  # unknown prediction
        click_step(
            7, "x", act("click", "y"), gold_click_type="filter", predicted_click_type="filter"
        ),
        outcome("s", 8, gold("terminate"), act("terminate")),  # not a click: left out
    ]
    c = step_metrics(steps).click_type
    assert c is not None and (c.n, c.unknown_gold, c.correct) == (7, 1, 3)
    # P/R: review 1/1, 1/2 -> 2/3; nav_bar 1/2, 1/1 -> 2/3; purchase 0; search: the given
    # type of step 5 is search, predicted '13' underivable (unknown) -> 0; filter 1
    assert c.per_type["review"].f1 == pytest.approx(2 / 3)
    assert c.per_type["nav_bar"].f1 == pytest.approx(2 / 3)
    assert c.per_type["filter"].f1 == 1.0 and c.per_type["search"].support == 2
    assert c.weighted_f1 == pytest.approx((2 / 3 * 2 + 2 / 3 * 1 + 0 + 0 + 1) / 7)
    assert c.unmatched_predictions == {"unknown": 2, "not_click": 1}
    assert c.accuracy == pytest.approx(3 / 7)


def test_gold_click_type_comes_from_the_recorded_action():
    recorded = GoldAction(type="click", name="13", click_type="purchase")
    steps = [outcome("s", 0, recorded, act("click", "buybox.add_to_cart"))]
    c = step_metrics(steps).click_type
    assert c is not None and c.correct == 1 and c.per_type["purchase"].support == 1


def purchase_session(session: str, golds: list[str], predicted: list[str]) -> list[StepOutcome]:
    """Steps of clicks on the given names ('stop' is a terminate)."""

    def action(name: str) -> tuple[GoldAction, OperaAction]:
        if name == "stop":
            return gold("terminate"), act("terminate")
        return gold("click", name), act("click", name)

    return [
        outcome(session, i, action(g)[0], action(p)[1])
        for i, (g, p) in enumerate(zip(golds, predicted, strict=True))
    ]


BUY, LOOK, UNKNOWN = "buybox.purchase_form.add_to_cart", "reviews", "17"


def test_session_outcome_by_last_step_and_by_any_step():
    sessions = [
        purchase_session("a", [LOOK, BUY], [LOOK, BUY]),  # buys at the end, predicted so
        purchase_session("b", [BUY, "stop"], [BUY, "stop"]),  # bought, then quit
        purchase_session("c", [LOOK, "stop"], [BUY, LOOK]),  # never bought; predicted once
        purchase_session("d", [LOOK, LOOK], [LOOK, LOOK]),  # never bought
        purchase_session("e", [UNKNOWN, "stop"], [LOOK, LOOK]),  # an unknown click
    ]
    last = session_outcome(sessions, "last_step")
    assert last is not None and (last.sessions, last.unjudged) == (5, 0)
    # last step: a purchase (right); b, c, d, e no purchase, all predicted so
    assert (last.true_positive, last.false_positive, last.false_negative) == (1, 0, 0)
    assert last.true_negative == 4 and last.weighted_f1 == 1.0 and last.purchase_f1 == 1.0
    any_step = session_outcome(sessions, "any_step")
    assert any_step is not None and (any_step.sessions, any_step.unjudged) == (4, 1)
    # real: a, b buy; c, d not. predicted: a, b, c buy
    assert (any_step.true_positive, any_step.false_positive, any_step.true_negative) == (2, 1, 1)
    assert any_step.purchase_f1 == pytest.approx(0.8)  # P 2/3, R 1
    # no purchase: P 1/1, R 1/2 -> 2/3; weighted by real support 2 and 2
    assert any_step.weighted_f1 == pytest.approx((0.8 * 2 + 2 / 3 * 2) / 4)
    assert "last step" in last.description and "any" in any_step.description


def test_session_outcome_needs_a_judged_session():
    assert session_outcome([purchase_session("e", [UNKNOWN], [LOOK])], "any_step") is None


def test_report_lines_and_breakdowns():
    steps = [
        outcome(
            "u1-a",
            0,
            gold("click", "reviews"),
            act("click", "reviews"),
            user_id="u1",
            persona="Tom",
            format_valid=True,
            rationale="I read the reviews first",
            gold_rationale="I want to read the reviews",
        ),
        outcome(
            "u1-a",
            1,
            gold("terminate"),
            None,
            user_id="u1",
            persona="Tom",
            format_valid=False,
            gold_rationale="Nothing for me",
        ),
        outcome(
            "u2-a",
            0,
            gold("type_and_submit", "nav_bar.search_input", "tea"),
            act("type_and_submit", "nav_bar.search_input", "green tea"),
            user_id="u2",
        ),
    ]
    r = behaviour_report(list(reversed(steps)))  # any order
    assert r.rules == "opera" and r.rules_description == RULES["opera"]
    assert r.metrics.n == 3 and r.metrics.exact == 1
    assert r.overall.format_valid_rate == 0.5  # two replies known, one parsed
    assert r.rationale_pairs == 1
    assert r.overall.rationale_rouge_l == pytest.approx(
        2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)  # LCS "i read the reviews" of 5 and 6 words
    )
    assert set(r.per_user) == {"u1", "u2"} and set(r.per_session) == {"u1-a", "u2-a"}
    u1 = r.per_user["u1"]
    assert (u1.sessions, u1.steps, u1.exact_accuracy, u1.fine_type_accuracy) == (1, 2, 0.5, 0.5)
    assert r.per_user["u2"].exact_accuracy == 0.0 and r.per_user["u2"].type_accuracy == 1.0
    assert r.per_user["u2"].format_valid_rate is None
    assert r.per_session["u1-a"].rationale_rouge_l == r.overall.rationale_rouge_l
    assert set(r.distribution.per_user) == {"u1", "u2"} and set(r.distribution.per_persona) == {
        "Tom"
    }
    assert r.calibration is None
    last = r.session_outcome["last_step"]
    assert last is not None and last.sessions == 2 and last.real_purchases == 0


def test_report_calibrates_stated_probabilities_and_names_the_rule_set():
    steps = [
        outcome("s", 0, gold("click", "1"), act("click", "1"), type_probabilities={"click": 1.0}),
        outcome("s", 1, gold("terminate"), act("terminate"), type_probabilities={"terminate": 1}),
        outcome("s", 2, gold("terminate"), act("terminate")),
    ]
    r = behaviour_report(steps, rules="shop-r1")
    assert r.rules == "shop-r1" and r.metrics.rules == "shop-r1"
    assert r.calibration is not None and r.calibration.n == 2
    assert r.calibration.atb_classwise == 0.0  # certain and right


def test_a_session_cannot_have_a_step_twice():
    steps = [outcome("s", 0, gold("terminate"), None), outcome("s", 0, gold("terminate"), None)]
    with pytest.raises(ValueError, match="same number"):
        behaviour_report(steps)
