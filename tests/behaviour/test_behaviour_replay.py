"""Offline replay of recorded steps: the policy sees what it saw when the steps were recorded.

``data/behaviour_steps.jsonl`` is the ``steps.jsonl`` of a real scripted rollout (2 episodes,
24 steps, every action type, 4 steps outside the OPeRA action space). The scripted shopper
is deterministic for its persona and seed, so replaying it offline must reproduce every
recorded action: that checks the rebuilt observations and histories end to end.

Scoring is checked on hand-made prediction files: raw replies alone score as their parsed
actions do, a file with nothing to score is refused, and on OPeRA-style ids (a gold session
built from a recorded step) the reward summary says how much wrong actions earned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webserv.behaviour.replay import (
    EvalConfig,
    EvalSummary,
    ReplayError,
    evaluate,
    gold_action,
    load_steps,
    pair_predictions,
    recorded_observation,
    recorded_turn,
    score,
    sessions,
)
from webserv.behaviour.rewards import CustomerR1Breakdown, CustomerR1Config, RewardConfig
from webserv.policy.parse import parse_output

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"


async def test_scripted_replay_reproduces_the_recorded_rollout(tmp_path: Path):
    summary = await evaluate(EvalConfig(steps=STEPS, out=tmp_path, policy="scripted"))
    assert (summary.sessions, summary.steps, summary.scored) == (2, 24, 20)
    m = summary.metrics
    assert m.exact_accuracy == 1.0 and m.type_macro_f1 == 1.0
    assert {k: c.support for k, c in m.per_class.items()} == {
        "click": 14,
        "type_and_submit": 4,
        "terminate": 2,
    }
    # 14 clicks at 1001, 4 searches at 1001.1, 2 terminations at 0.8
    assert summary.reward.total == pytest.approx((14 * 1001 + 4 * 1001.1 + 2 * 0.8) / 20)
    lines = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 24
    unscored = [x for x in lines if x["gold"] is None]
    assert len(unscored) == 4 and all(x["reward"] is None for x in unscored)
    assert all(x["predicted"] == x["gold"] for x in lines if x["gold"])
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["metrics"]["exact"] == 20


async def test_random_baseline_is_far_from_the_recording(tmp_path: Path):
    summary = await evaluate(EvalConfig(steps=STEPS, out=tmp_path, policy="random", seed=1))
    assert summary.scored == 20 and summary.metrics.exact_accuracy < 0.5


def test_rebuilt_inputs_match_the_recorded_steps():
    rows = sessions(load_steps(STEPS))
    assert len(rows) == 2
    session = next(iter(rows.values()))
    assert [s.step for s in session] == list(range(len(session)))
    step, previous = session[2], session[1]
    observation = recorded_observation(step, previous, STEPS.parent, screenshot=True)
    assert observation["text"] == step.observation_text and observation["goal"] == step.intent
    assert observation["screenshot"] is None  # recorded without screenshots
    turn = recorded_turn(previous)
    assert turn.decision.rationale == previous.rationale
    assert turn.decision.opera_action == previous.action and turn.text == previous.observation_text
    kinds = [gold_action(s).type if gold_action(s) else None for s in session]
    assert None in kinds and "terminate" in kinds


def test_recorded_screenshot_is_read_from_the_run_directory(tmp_path: Path):
    step = load_steps(STEPS)[0].model_copy(update={"image": "screenshots/s/000.png"})
    (tmp_path / "screenshots" / "s").mkdir(parents=True)
    (tmp_path / "screenshots" / "s" / "000.png").write_bytes(b"\x89PNG fake")
    assert recorded_observation(step, None, tmp_path, True)["screenshot"] == b"\x89PNG fake"
    assert recorded_observation(step, None, tmp_path, False)["screenshot"] is None


def test_score_pairs_by_session_and_step(tmp_path: Path):
    steps = load_steps(STEPS)
    scorable = [s for s in steps if gold_action(s) is not None]
    predictions = tmp_path / "pred.jsonl"
    lines = [
        {"session_id": s.session_id, "step": s.step, "action": s.action} for s in scorable[:10]
    ]
    lines[0]["action"] = {"type": "terminate"}
    lines.append({"session_id": "elsewhere", "step": 0, "predicted": {"type": "terminate"}})
    predictions.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = score(predictions, STEPS)
    assert (result.paired, result.missing, result.unmatched, result.not_scored) == (10, 10, 1, 4)
    assert result.metrics.n == 20 and result.metrics.exact == 9
    assert result.metrics.unusable == 10  # missing predictions count as wrong


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no steps"), ('{"session_id": "x"}\n', ":1: not a step record")],
)
def test_unreadable_steps_say_where(tmp_path: Path, content: str, message: str):
    path = tmp_path / "steps.jsonl"
    path.write_text(content)
    with pytest.raises(ReplayError, match=message):
        load_steps(path)
    with pytest.raises(ReplayError, match="no such file"):
        load_steps(tmp_path / "missing.jsonl")


def reply_of(action: dict[str, Any] | None, rationale: str = "I look closer.") -> str:
    return json.dumps({"rationale": rationale, "action": action})


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_raw_replies_score_like_parsed_actions(tmp_path: Path):
    scorable = [s for s in load_steps(STEPS) if gold_action(s) is not None]
    wrong = {"type": "click", "name": "999"}
    replies = [reply_of(s.action if i % 3 else wrong) for i, s in enumerate(scorable)]
    replies[1] = "I would close the pop-up first."  # no JSON: a format error
    replies[2] = replies[2][:-1] + ",}"  # trailing comma: read, but fails the format check
    keys = [{"session_id": s.session_id, "step": s.step} for s in scorable]
    parsed_lines = []
    for key, text in zip(keys, replies, strict=True):
        read = parse_output(text, "opera")
        parsed_lines.append(
            {
                **key,
                "predicted": read.opera_action,
                "model_output": text,
                "format_error": read.error,
            }
        )
    parsed = score(write_jsonl(tmp_path / "parsed.jsonl", parsed_lines), STEPS)
    raw_lines = [{**key, "model_output": text} for key, text in zip(keys, replies, strict=True)]
    raw = score(write_jsonl(tmp_path / "raw.jsonl", raw_lines), STEPS)

    assert raw.metrics == parsed.metrics and raw.reward == parsed.reward
    assert raw.metrics.exact == len(scorable) - 7 - 1  # 7 wrong clicks, 1 unreadable
    assert (raw.from_model_output, parsed.from_model_output) == (len(scorable), 0)
    assert raw.format_errors == parsed.format_errors == 1


def test_a_file_with_nothing_to_score_is_refused(tmp_path: Path):
    lines = [
        {"session_id": s.session_id, "step": s.step, "response": "{}"} for s in load_steps(STEPS)
    ]
    with pytest.raises(ReplayError, match="no line has `predicted`, `action` or `model_output`"):
        score(write_jsonl(tmp_path / "pred.jsonl", lines), STEPS)


WHITE = "product_options.color.button_list.white"
MINT = "product_options.color.button_list.mint_green"


def click(name: str, click_type: str) -> dict[str, str]:
    """A recorded click as an OPeRA import writes it."""
    return {"type": "click", "name": name, "click_type": click_type}


def opera_session(tmp_path: Path) -> Path:
    """Four OPeRA-style gold steps of one shopper, built on a recorded step."""
    template = json.loads(STEPS.read_text().splitlines()[0])
    recorded = [
        (click(MINT, "product_option"), "I like the green one."),
        (click("buy_box.add_to_cart", "purchase"), "I take it."),
        (click("cart_side_bar.checkout", "cart_side_bar"), "Pay now."),
        ({"type": "terminate"}, "Done."),
    ]
    rows = [
        {
            **template,
            "session_id": "u7_1700_1800",
            "persona": "u7",  # an OPeRA import's persona is the shopper's user id
            "step": i,
            "action_id": f"a{i}",
            "action": action,
            "rationale": rationale,
        }
        for i, (action, rationale) in enumerate(recorded)
    ]
    return write_jsonl(tmp_path / "gold.jsonl", rows)


def test_wrong_actions_share_of_the_reward_and_the_per_step_fields(tmp_path: Path):
    gold = opera_session(tmp_path)
    predicted = [  # a near-miss colour, the right button, (no prediction), the right end
        (0, {"type": "click", "name": WHITE}),
        (1, {"type": "click", "name": "buy_box.add_to_cart"}),
        (3, {"type": "terminate"}),
    ]
    pred = write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {"session_id": "u7_1700_1800", "step": i, "model_output": reply_of(a)}
            for i, a in predicted
        ],
    )
    near_miss = 0.5 + 0.3 + 0.2 + 1000 * 10 / 13  # ~770 of a right click's 1001
    published = score(pred, gold).reward
    assert published is not None
    assert (published.scheme, published.name_compare) == ("shop-r1", "rouge-l")
    assert published.total == pytest.approx((near_miss + 1001 + 0.8) / 3)
    assert published.wrong_share == pytest.approx(near_miss / (near_miss + 1001 + 0.8))

    variant = score(pred, gold, RewardConfig(name_compare="distinguishing")).reward
    assert variant is not None and variant.name_compare == "distinguishing"
    assert variant.wrong_share == pytest.approx(1.0 / (1.0 + 1001 + 0.8))

    customer = score(pred, gold, CustomerR1Config()).reward
    assert customer is not None and customer.scheme == "customer-r1"
    assert customer.name_compare is None and customer.type is None
    # product_option missed (-1 + 0.1), purchase click (1000 + 0.1), terminate (1 + 0.1)
    assert customer.total == pytest.approx((-0.9 + 1000.1 + 1.1) / 3)
    assert customer.wrong_share == pytest.approx(-0.9 / 1000.3)

    paired = pair_predictions(pred, gold, CustomerR1Config())
    first, second, unpredicted, _ = paired.predictions
    assert (first.session_id, first.persona, first.gold_click_type) == (
        "u7_1700_1800",
        "u7",
        "product_option",
    )
    assert first.gold_rationale == "I like the green one." and first.rationale == "I look closer."
    assert first.parsed and first.format_ok and not first.missing and first.exact is False
    assert isinstance(second.reward, CustomerR1Breakdown)
    assert (second.reward.paid, second.reward.total) == ("click", pytest.approx(1000.1))
    assert unpredicted.missing and unpredicted.predicted is None and unpredicted.reward is None
    assert unpredicted.gold_click_type == "cart_side_bar"


async def test_evaluation_under_customer_r1(tmp_path: Path):
    config = EvalConfig(steps=STEPS, out=tmp_path, policy="scripted", reward=CustomerR1Config())
    summary = await evaluate(config)
    assert summary.reward.scheme == "customer-r1" and summary.reward.type is None
    # 14 clicks of unknown type at 1000 + 0.1, 4 inputs at 2000.1, 2 terminations at 1.1
    assert summary.reward.total == pytest.approx((14 * 1000.1 + 4 * 2000.1 + 2 * 1.1) / 20)
    assert summary.reward.wrong_share == 0.0
    lines = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert {x["reward"]["scheme"] for x in lines if x["reward"]} == {"customer-r1"}
    assert all(x["parsed"] and x["gold_rationale"] for x in lines)
    written = EvalSummary.model_validate_json((tmp_path / "summary.json").read_text())
    assert isinstance(written.config.reward, CustomerR1Config)


async def test_recorded_shoppers_surveys_and_given_personas_reach_the_prompt(tmp_path: Path):
    """A run dir's personas.json (an OPeRA import's surveys) gives each recorded shopper their
    persona; ``EvalConfig.personas`` replaces it. The model is the chat stand-in of
    chat_server.py (no model can be loaded here): the test reads what it was sent."""
    from chat_server import chat_server

    from webserv.policy.persona import Persona
    from webserv.policy.vlm import ModelConfig

    steps = tmp_path / "steps.jsonl"
    steps.write_text(STEPS.read_text())
    (tmp_path / "personas.json").write_text(json.dumps({"Tom Becker": "age: 63\nbrands: Rab"}))
    with chat_server(
        lambda body: '{"rationale": "Done.", "action": {"type": "terminate"}}'
    ) as chat:
        model = ModelConfig(endpoint=chat.base_url, model="stand-in")
        rewritten = Persona(name="Priya Raman", profile="You are a careful cook on a budget.")
        config = EvalConfig(
            steps=steps,
            out=tmp_path / "eval",
            policy="vlm",
            model=model,
            personas={"Priya Raman": rewritten},
            concurrency=1,
        )
        summary = await evaluate(config)
    systems = [body["messages"][0]["content"] for body in chat.requests]
    assert summary.steps == len(systems) == 24
    assert (
        sum("In a survey about your shopping you said:\nage: 63\nbrands: Rab" in s for s in systems)
        == 14
    )
    assert sum("You are a careful cook on a budget." in s for s in systems) == 10
    assert not any("Tom Becker" in s or "Priya Raman" in s for s in systems)
    with pytest.raises(ReplayError, match="no session 'nope'"):
        await evaluate(config.model_copy(update={"sessions": ["nope"]}))
