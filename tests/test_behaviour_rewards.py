"""The Shop-R1 reward: every row of Table 1, the ROUGE-L threshold, type gating, the format
check and the rationale's self-certainty term."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from webserv.behaviour.rewards import (
    RewardConfig,
    rationale_top_logprobs,
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
            0.5 + 0.3 + 0.1 + 0.1 + 0.1,  # text ROUGE-L 0.67: below the threshold
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
