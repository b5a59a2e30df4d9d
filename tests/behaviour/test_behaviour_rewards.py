"""The rewards. Shop-R1: every row of Table 1, the ROUGE-L threshold, type gating, the format
check, the rationale's self-certainty term, and the name comparison on long dotted ids.
Customer-R1: the difficulty weight of each action and click type, the wrong-click penalty's
readings and the binary format reward."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from webserv.behaviour.rewards import (
    AnyRewardBreakdown,
    CustomerR1Breakdown,
    CustomerR1Config,
    GoldAction,
    OperaAction,
    RewardBreakdown,
    RewardConfig,
    customer_r1_reward,
    distinguishing_parts,
    exact_match,
    name_similarity,
    rationale_top_logprobs,
    reply_reward,
    reward_config,
    rouge_l,
    self_certainty,
    shop_r1_reward,
)


def reply(action: Any, rationale: str = "I want to look closer.") -> str:
    return json.dumps({"rationale": rationale, "action": action})


CLICK = {"type": "click", "name": "12"}
SEARCH = {"type": "type_and_submit", "name": "10", "text": "water bottle"}
TERMINATE = {"type": "terminate"}


def test_rouge_l_is_the_token_lcs_f_measure():
    assert rouge_l("a b c d", "a b c e") == 0.75  # P = R = 3/4
    assert rouge_l("steel water bottle", "water bottle") == pytest.approx(0.8)
    assert rouge_l("nav_bar.search_input", "Nav Bar SEARCH input") == 1.0
    assert rouge_l("crème brûlée", "Crème Brûlée") == 1.0  # non-ASCII words count
    assert rouge_l("", "anything") == 0.0


@pytest.mark.parametrize(
    ("predicted", "gold", "total", "terms"),
    [
        # click: 0.5 format + 0.3 type + 0.2 name + DARS x ROUGE-L(name)
        (CLICK, CLICK, 1001.0, {"name_attribute": 0.2, "name_similarity": 1000.0}),
        ({"type": "click", "name": "13"}, CLICK, 1.0, {"name_rouge_l": 0.0}),
        # a name at exactly the threshold earns nothing; above it, in proportion
        ({"type": "click", "name": "a.b.c.d"}, {"type": "click", "name": "a.b.c.e"}, 1.0, {}),
        (
            {"type": "click", "name": "search_result.product_title.steel"},
            {"type": "click", "name": "search_result.product_title"},
            0.5 + 0.3 + 0.2 + 1000 * 8 / 9,  # P = 4/5, R = 1
            {"name_similarity": pytest.approx(8000 / 9)},
        ),
        # a click without a name: the type still counts, the name attribute does not
        ({"type": "click"}, CLICK, 0.8, {"name_attribute": 0.0}),
        # type_and_submit: 0.3 + 0.1 name + 0.1 text + 0.1 x RL(name) + DARS x RL(text)
        (SEARCH, SEARCH, 0.5 + 0.3 + 0.1 + 0.1 + 0.1 + 1000, {"text_similarity": 1000.0}),
        (
            {"type": "type_and_submit", "name": "11", "text": "steel water bottle"},
            SEARCH,
            0.5 + 0.3 + 0.1 + 0.1 + 0.0 + 800,
            {"name_similarity": 0.0, "text_rouge_l": pytest.approx(0.8)},
        ),
        (
            {"type": "type_and_submit", "name": "10", "text": "bottle"},
            SEARCH,
            0.5 + 0.3 + 0.1 + 0.1 + 0.1,  # text ROUGE-L 0.75: not above the threshold
            {"text_similarity": 0.0},
        ),
        # OPeRA's "input" is type_and_submit
        ({"type": "input", "name": "10", "text": "water bottle"}, SEARCH, 1001.1, {}),
        # terminate: 0.3 and nothing more
        (TERMINATE, TERMINATE, 0.8, {"type": 0.3}),
        ({"type": "terminate", "answer": "none"}, TERMINATE, 0.8, {}),
        # wrong type: only the format reward (sub-rewards are gated on the type)
        (TERMINATE, CLICK, 0.5, {"type_match": False}),
        (CLICK, TERMINATE, 0.5, {}),
        ({"type": "click", "name": "10"}, SEARCH, 0.5, {"name_attribute": 0.0}),
        ({"type": "scroll"}, CLICK, 0.5, {}),
    ],
)
def test_table_1(predicted: dict, gold: dict, total: float, terms: dict[str, Any]):
    breakdown = shop_r1_reward(reply(predicted), gold)
    assert breakdown.format_ok and breakdown.format == 0.5
    assert breakdown.total == pytest.approx(total)
    assert breakdown.total == pytest.approx(breakdown.format + breakdown.action)
    for key, value in terms.items():
        assert getattr(breakdown, key) == value, key


def test_ungated_reading_pays_the_gold_rows_terms_on_a_type_mismatch():
    predicted = {"type": "type_and_submit", "name": "12", "text": "x"}
    gated = shop_r1_reward(reply(predicted), CLICK)
    ungated = shop_r1_reward(reply(predicted), CLICK, RewardConfig(gate_on_type=False))
    assert gated.total == 0.5
    assert ungated.type == 0.0 and ungated.total == pytest.approx(0.5 + 0.2 + 1000)


def test_constants_come_from_the_config():
    config = RewardConfig(dars=10, rouge_threshold=0.5, type_reward=1.0)
    predicted = {"type": "type_and_submit", "name": "10", "text": "bottle"}
    breakdown = shop_r1_reward(reply(predicted), SEARCH, config)
    assert breakdown.text_similarity == pytest.approx(10 * 2 / 3)
    assert breakdown.type == 1.0


def test_bracketed_id_is_read_as_the_policy_reads_it():
    assert shop_r1_reward(reply({"type": "click", "name": "[12]"}), CLICK).total == 1001.0
    fenced = "```json\n" + reply(CLICK) + "\n```"
    assert shop_r1_reward(fenced, CLICK).total == 1001.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I would click the shoes.",
        "{'rationale': 'r', 'action': {'type': 'click', 'name': '12'}}",  # single quotes
        '{"rationale": "r", "action": {"type": "click", "name": "12"},}',  # trailing comma
        '{"rationale": "r", "action": {"type": "click", "name": "12"}',  # cut off
        json.dumps({"action": CLICK}),  # no rationale
        json.dumps({"rationale": ["r"], "action": CLICK}),  # rationale not text
        json.dumps({"rationale": "r"}),  # no action
        json.dumps(CLICK),  # a bare action
        reply(CLICK) + "\n" + reply(CLICK),  # two objects
    ],
)
def test_malformed_replies_get_nothing_at_all(text: str):
    breakdown = shop_r1_reward(text, CLICK, rationale_logprobs=[[0.0]])
    assert not breakdown.format_ok and breakdown.predicted is None
    assert breakdown.total == 0.0 and breakdown.self_certainty is None


def test_gold_outside_the_action_space_is_refused():
    with pytest.raises(ValueError, match="type"):
        shop_r1_reward(reply(CLICK), {"type": "scroll"})


def test_self_certainty_from_top_k_logprobs():
    assert self_certainty([[0.0]]) == 1.0  # all mass on one token
    half = math.log(0.5)
    assert self_certainty([[half, half]]) == pytest.approx(0.0)  # uniform over two buckets
    # 0.9 / 0.1 split (no "other" mass) averaged with a certain token
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    expected = (1 + (1 - h / math.log(2))) / 2
    assert self_certainty([[0.0], [math.log(0.9), math.log(0.1)]]) == pytest.approx(expected)
    # top-1 of 0.5: the other bucket holds the rest
    assert self_certainty([[half]]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        self_certainty([])


def test_rationale_term_uses_only_the_rationales_tokens():
    pieces = ['{"', "rationale", '":', ' "', "I", " like", " it", '",', ' "action": {}}']
    lp = {"I": 0.0, " like": math.log(0.5), " it": 0.0}

    def entry(token: str) -> dict[str, Any]:
        value = lp.get(token, math.log(0.5))
        top = [{"token": token, "logprob": value}]
        if value < 0:
            top.append({"token": "x", "logprob": math.log(0.5)})
        return {"token": token, "logprob": value, "top_logprobs": top}

    content = [entry(p) for p in pieces]
    kept = rationale_top_logprobs(content)
    assert kept == [[0.0], [math.log(0.5), math.log(0.5)], [0.0]]
    assert rationale_top_logprobs([entry("no rationale here")]) == []

    breakdown = shop_r1_reward(reply(CLICK), CLICK, rationale_logprobs=kept)
    assert breakdown.self_certainty == pytest.approx(2 / 3)
    assert breakdown.rationale == pytest.approx(0.005 * 2 / 3)
    assert breakdown.total == pytest.approx(1001.0 + 0.005 * 2 / 3)


# --- Customer-R1: difficulty-weighted exact match plus a binary format reward ---

INPUT = {"type": "input", "name": "nav_bar.search_input", "text": "red running shoes"}


def clicked(name: str, click_type: str | None = None) -> dict[str, Any]:
    return {"type": "click", "name": name, **({"click_type": click_type} if click_type else {})}


@pytest.mark.parametrize(
    ("predicted", "gold", "paid", "action"),
    [
        # exact matches, paid by the recorded action's difficulty
        (INPUT, INPUT, "input", 2000.0),
        ({**INPUT, "text": "  red running shoes "}, INPUT, "input", 2000.0),  # trimmed
        (clicked("a.buy_now"), clicked("a.buy_now", "purchase"), "click", 1000.0),
        (clicked("a.buy_now"), clicked("a.buy_now"), "click", 1000.0),  # type unknown: hard
        (
            clicked("o.size.9"),
            clicked("o.size.9", "product_option"),
            "click_type:product_option",
            10.0,
        ),
        (clicked("r.see_all"), clicked("r.see_all", "review"), "click_type:review", 1.0),
        (clicked("nav.search"), clicked("nav.search", "search"), "click_type:search", 1.0),
        (TERMINATE, TERMINATE, "terminate", 1.0),
        # wrong predictions: a wrong click costs, anything else earns nothing
        (clicked("o.size.10"), clicked("o.size.9", "product_option"), "wrong_click", -1.0),
        (clicked("a.buy_now"), TERMINATE, "wrong_click", -1.0),
        (TERMINATE, clicked("a.buy_now", "purchase"), "wrong_other", 0.0),
        ({**INPUT, "text": "Red running shoes"}, INPUT, "wrong_other", 0.0),  # OPeRA: same text
        ({"type": "scroll"}, INPUT, "wrong_other", 0.0),
    ],
)
def test_customer_r1_weights(predicted: dict, gold: dict, paid: str, action: float):
    breakdown = customer_r1_reward(reply(predicted), gold)
    assert breakdown.scheme == "customer-r1" and breakdown.format_ok
    assert (breakdown.paid, breakdown.action, breakdown.format) == (paid, action, 0.1)
    assert breakdown.exact == (action > 0)
    assert breakdown.total == pytest.approx(action + 0.1)


def test_customer_r1_readings_of_a_wrong_click_are_configurable():
    gold = clicked("a.buy_now", "purchase")
    missed = customer_r1_reward(reply(TERMINATE), gold, CustomerR1Config(wrong_click_side="gold"))
    assert (missed.paid, missed.action) == ("wrong_click", -1.0)
    rl_only = CustomerR1Config(wrong_click=0.0)
    assert customer_r1_reward(reply(clicked("a.other")), gold, rl_only).total == 0.1
    weights = CustomerR1Config(click=5.0, click_types={"purchase": 7.0}, input=3.0)
    assert customer_r1_reward(reply(clicked("a.buy_now")), gold, weights).action == 7.0
    assert customer_r1_reward(reply(clicked("x")), clicked("x"), weights).action == 5.0
    assert customer_r1_reward(reply(INPUT), INPUT, weights).action == 3.0


def test_customer_r1_format_reward_is_binary_and_gates_everything():
    malformed = "{'rationale': 'r', 'action': {'type': 'terminate'}}"  # single quotes
    breakdown = customer_r1_reward(malformed, TERMINATE)
    assert not breakdown.format_ok and breakdown.predicted is None
    assert (breakdown.format, breakdown.action, breakdown.total, breakdown.paid) == (0, 0, 0, "")
    # a format-valid wrong click: format reward plus the penalty
    assert customer_r1_reward(reply(CLICK), TERMINATE).total == pytest.approx(-0.9)
    loud = CustomerR1Config(format_reward=0.5)
    assert customer_r1_reward(reply(TERMINATE), TERMINATE, loud).total == 1.5


def test_the_scheme_selects_the_reward_and_is_named_in_its_output():
    shop = reply_reward(reply(CLICK), CLICK)
    customer = reply_reward(reply(CLICK), CLICK, reward_config("customer-r1"))
    assert (shop.scheme, shop.total) == ("shop-r1", 1001.0)
    assert (customer.scheme, customer.total) == ("customer-r1", 1000.1)
    assert reward_config("shop-r1", name_compare="exact") == RewardConfig(name_compare="exact")
    with pytest.raises(ValidationError, match="name_compare"):
        reward_config("customer-r1", name_compare="exact")  # not a Customer-R1 constant
    # records are read back as their scheme; one written before there were two is Shop-R1's
    breakdowns = TypeAdapter(list[AnyRewardBreakdown])
    back = breakdowns.validate_json(breakdowns.dump_json([shop, customer]))
    assert [type(b) for b in back] == [RewardBreakdown, CustomerR1Breakdown]
    old = shop.model_dump(exclude={"scheme"})
    assert isinstance(TypeAdapter(AnyRewardBreakdown).validate_python(old), RewardBreakdown)


# --- long dotted ids: Shop-R1's name term as published, and the distinguishing-part variant ---

WHITE = "product_options.color.button_list.white"
MINT = "product_options.color.button_list.mint_green"


def test_long_shared_prefix_inflates_shop_r1s_name_term():
    published = shop_r1_reward(reply(clicked(WHITE)), clicked(MINT))
    assert published.name_rouge_l == pytest.approx(10 / 13)  # 5 shared words of 6 and 7
    assert published.total == pytest.approx(0.5 + 0.3 + 0.2 + 1000 * 10 / 13)  # ~770 of 1001
    assert not published.exact

    for compare in ("distinguishing", "exact"):
        config = RewardConfig(name_compare=compare)
        wrong = shop_r1_reward(reply(clicked(WHITE)), clicked(MINT), config)
        assert wrong.name_rouge_l == 0.0 and wrong.total == pytest.approx(1.0)
        right = shop_r1_reward(reply(clicked(MINT)), clicked(MINT), config)
        assert right.total == 1001.0 and right.exact


def test_distinguishing_part_keeps_partial_credit_where_the_ids_differ():
    assert distinguishing_parts(WHITE, MINT) == ("white", "mint_green")
    assert distinguishing_parts("12", "13") == ("12", "13")
    assert distinguishing_parts("a.b", "a.b.c") == ("", "c")
    near = ("results.red_running_shoes_size_9", "results.red_running_shoes_size_10")
    assert name_similarity(*near, "distinguishing") == pytest.approx(0.8)
    assert name_similarity(*near, "exact") == 0.0
    assert name_similarity("a.b", "a.b.c", "distinguishing") == 0.0
    # webserv's own numeric ids: every reading agrees
    for compare in ("rouge-l", "distinguishing", "exact"):
        assert name_similarity("12", "12", compare) == 1.0
        assert name_similarity("12", "13", compare) == 0.0
    # the variant also applies to the name term of typing
    typed = {"type": "type_and_submit", "name": "x.search_box.top", "text": "shoes"}
    gold = {"type": "type_and_submit", "name": "x.search_box.side", "text": "shoes"}
    assert shop_r1_reward(reply(typed), gold).name_similarity == 0.0  # ROUGE-L 0.75: not above
    assert shop_r1_reward(
        reply(typed), gold, RewardConfig(rouge_threshold=0.5)
    ).name_similarity == pytest.approx(0.1 * 0.75)
    variant = RewardConfig(rouge_threshold=0.5, name_compare="distinguishing")
    assert shop_r1_reward(reply(typed), gold, variant).name_similarity == 0.0


def test_opera_exact_match_trims_the_text():
    gold = GoldAction.of(INPUT)
    assert exact_match(OperaAction.read({**INPUT, "text": " red running shoes"}), gold)
    assert not exact_match(OperaAction.read({**INPUT, "text": "red running shoe"}), gold)
    assert not exact_match(OperaAction.read({**INPUT, "name": "other"}), gold)
    assert not exact_match(None, gold)
    assert exact_match(
        OperaAction.read({"type": "terminate", "answer": "x"}), GoldAction.of(TERMINATE)
    )
    assert GoldAction.of(clicked("a", "review")).click_type == "review"
