"""Aligned scoring: the proper rules, the NNLS fit, and scoring texts through a chat endpoint.

The mathematics is checked on hand-computed values: the V-shaped, Brier and log rules at
points worked out by hand, properness on a grid (the expected score under Bernoulli(q) is
highest at the report q, for every rule and for fitted mixtures; an improper rule fails the
same check), NNLS recovering known weights and satisfying its optimality conditions, and the
agreement measures on a small case.

The model-driven paths run against the OpenAI-compatible stand-in of ``chat_server.py`` on
a loopback port, because no model can be loaded here: the stand-in answers each prompt as a
test function says, so the questions, outcomes and reports, and hence the scores, are known.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from chat_server import chat_server
from typer.testing import CliRunner

from webserv.behaviour.aligned import (
    AlignedError,
    AlignedRule,
    ElicitationConfig,
    ElicitationError,
    FitConfig,
    RuleComponent,
    ScoredItem,
    TextScorer,
    agreement,
    aligned_rationale_term,
    brier,
    fit_aligned,
    fit_aligned_command,
    load_items,
    log_score,
    probability,
    read_generated,
    read_reports,
    score_text_command,
    v_shaped,
    yes_no,
)
from webserv.policy.vlm import ChatModel, ModelConfig, ModelError

DATA = Path(__file__).parents[1] / "data"
ITEMS = DATA / "aligned_items.jsonl"
STEPS = DATA / "behaviour_steps.jsonl"

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]

# --- the rules, by hand ---------------------------------------------------------------------


def test_v_shaped_rule_at_hand_computed_points():
    # t = 0.3: scale 2 max(t, 1 - t) = 1.4
    assert v_shaped(0.8, 1, 0.3) == pytest.approx(1.0)  # 1/2 + 0.7 / 1.4
    assert v_shaped(0.8, 0, 0.3) == pytest.approx(2 / 7)  # 1/2 - 0.3 / 1.4
    assert v_shaped(0.1, 0, 0.3) == pytest.approx(5 / 7)  # 1/2 + 0.3 / 1.4
    assert v_shaped(0.1, 1, 0.3) == pytest.approx(0.0)  # 1/2 - 0.7 / 1.4
    assert v_shaped([0.3, 0.3], [0, 1], 0.3) == pytest.approx([0.5, 0.5])  # at the kink
    # t = 0.8: scale 1.6
    assert v_shaped(0.9, 1, 0.8) == pytest.approx(0.625)
    assert v_shaped(0.9, 0, 0.8) == pytest.approx(0.0)
    assert v_shaped(0.2, 0, 0.8) == pytest.approx(1.0)
    assert v_shaped(0.2, 1, 0.8) == pytest.approx(0.375)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        v_shaped(0.5, 1, 1.0)


def test_brier_and_log_at_hand_computed_points():
    assert brier(0.8, 1) == pytest.approx(0.96)
    assert brier(0.8, 0) == pytest.approx(0.36)
    # log: ln(p_y / 0.01) / ln(99), the report clipped to [0.01, 0.99]
    assert log_score(0.5, 1) == pytest.approx(math.log(50) / math.log(99))
    assert log_score(0.99, 1) == pytest.approx(1.0)
    assert log_score(1.0, 1) == pytest.approx(1.0)  # clipped to 0.99
    assert log_score(1.0, 0) == pytest.approx(0.0)  # clipped to 0.99: p_y = 0.01
    assert log_score(0.2, 0, floor=0.1) == pytest.approx(math.log(8) / math.log(9))
    # an item's score is the mean over its questions: Brier of the first hand-made item
    rule = AlignedRule(components=[RuleComponent(kind="brier", weight=1.0)])
    assert rule.score([0.95, 0.9, 0.1, 0.1], [1, 1, 0, 0]) == pytest.approx(1 - 0.0325 / 4)
    with pytest.raises(ValueError, match="as many reports"):
        rule.score([0.5], [1, 0])


def expected_score_maximised_at_truth(score: Score, strict: bool = False) -> bool:
    """Whether, for each belief q on a grid, reporting q maximises q S(p, 1) + (1-q) S(p, 0).

    ``strict``: also that every report 0.01 or more away from q scores strictly less.
    """
    reports = np.linspace(0.0, 1.0, 1001)
    for q in [0.0, 0.005, 0.02, *np.linspace(0.05, 0.95, 19), 0.98, 0.995, 1.0]:
        p = np.append(reports, q)
        expected = q * score(p, np.ones_like(p)) + (1 - q) * score(p, np.zeros_like(p))
        at_truth = expected[-1]
        if expected.max() > at_truth + 1e-12:
            return False
        far = np.abs(p - q) >= 0.01
        if strict and 0.01 <= q <= 0.99 and expected[far].max() >= at_truth:
            return False
    return True


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.3, 0.5, 0.77, 0.9])
def test_every_v_shaped_rule_is_proper(threshold: float):
    assert expected_score_maximised_at_truth(lambda p, y: v_shaped(p, y, threshold))


def test_brier_and_log_are_strictly_proper():
    assert expected_score_maximised_at_truth(brier, strict=True)
    assert expected_score_maximised_at_truth(log_score, strict=True)


def test_the_properness_check_catches_improper_rules():
    """The check has teeth: it rejects the absolute rule and a log floored on p_y alone."""
    assert not expected_score_maximised_at_truth(lambda p, y: 1 - np.abs(p - y))

    def floored_on_outcome(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        p_y = np.maximum(np.where(y == 1, p, 1 - p), 0.01)
        return np.log(p_y / 0.01) / np.log(99)

    # q = 0.98: reporting 1 expects 0.98 ln(100)/ln(99) = 0.9822 > 0.9809 at the truth
    assert not expected_score_maximised_at_truth(floored_on_outcome)


def test_fitted_and_mixed_rules_are_proper():
    fitted = fit_aligned(load_items(ITEMS)).rule
    assert expected_score_maximised_at_truth(fitted.question_scores)
    mixture = AlignedRule(
        components=[
            RuleComponent(kind="v", threshold=0.2, weight=0.7),
            RuleComponent(kind="v", threshold=0.65, weight=2.0),
            RuleComponent(kind="log", weight=0.3),
        ],
        outcome_weight=-1.5,  # a term in the outcome alone: properness is kept
        offset=3.0,
    )
    assert expected_score_maximised_at_truth(mixture.question_scores, strict=True)


# --- fitting --------------------------------------------------------------------------------


def synthetic_items(rule: AlignedRule, n: int, seed: int) -> list[ScoredItem]:
    """Items of 2-6 questions, uniform reports and fair-coin outcomes, scored by ``rule``."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        m = int(rng.integers(2, 7))
        p, y = rng.uniform(size=m), rng.integers(0, 2, size=m)
        human = rule.score(p, y)
        items.append(ScoredItem(id=str(i), reports=p.tolist(), outcomes=y.tolist(), human=human))
    return items


def test_nnls_recovers_known_weights_from_synthetic_human_scores():
    true = AlignedRule(
        components=[
            RuleComponent(kind="v", threshold=0.3, weight=2.0),
            RuleComponent(kind="v", threshold=0.7, weight=0.25),
            RuleComponent(kind="brier", weight=1.0),
        ],
        outcome_weight=-0.4,
        offset=-0.5,
    )
    fit = fit_aligned(synthetic_items(true, 150, seed=0))
    weights = {c.name: c.weight for c in fit.rule.components}
    expected = {name: 0.0 for name in weights} | {"V(0.30)": 2.0, "V(0.70)": 0.25, "brier": 1.0}
    assert weights == pytest.approx(expected, abs=1e-8)
    assert fit.rule.outcome_weight == pytest.approx(-0.4)
    assert fit.rule.offset == pytest.approx(-0.5)
    aligned = fit.comparison[0]
    assert aligned.name == "aligned" and aligned.held_out.mse == pytest.approx(0, abs=1e-20)


def test_the_fit_never_gives_a_negative_weight():
    rng = np.random.default_rng(7)
    items = synthetic_items(AlignedRule(components=[]), 60, seed=1)
    for seed in range(5):  # human scores that are pure noise
        noisy = [i.model_copy(update={"human": float(rng.normal())}) for i in items]
        rule = fit_aligned(noisy, FitConfig(seed=seed)).rule
        assert all(c.weight >= 0 for c in rule.components)
    # scores that punish the truth: no proper rule agrees, every weight stays 0
    anti = [
        i.model_copy(update={"human": -float(brier(i.reports, i.outcomes).mean())}) for i in items
    ]
    fit = fit_aligned(anti, FitConfig(outcome_term=False))
    assert all(c.weight == 0 for c in fit.rule.components)
    assert fit.rule.offset == pytest.approx(np.mean([i.human for i in anti]))
    assert fit.comparison[0].fit.pearson is None  # a constant score correlates with nothing


def test_agreement_on_a_hand_computed_case():
    result = agreement(np.array([1.0, 2.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0]))
    assert result.mse == pytest.approx(0.25)
    assert result.pearson == pytest.approx(4.5 / math.sqrt(4.75 * 5))
    # ranks [1, 2.5, 2.5, 4] against [1, 3, 2, 4]
    assert result.spearman == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def test_the_hand_made_items_fit_and_compare_with_the_baselines():
    fit = fit_aligned(load_items(ITEMS))
    assert (fit.items, fit.questions) == (35, 140)
    rows = {(r.name, r.fitted): r for r in fit.comparison}
    assert list(rows) == [
        ("aligned", "shape"),
        ("brier", "scale"),
        ("brier", "none"),
        ("log", "scale"),
        ("log", "none"),
    ]
    # the family holds every scaled Brier and log, so in-sample it cannot do worse
    assert rows["aligned", "shape"].fit.mse <= rows["brier", "scale"].fit.mse
    assert rows["aligned", "shape"].fit.mse <= rows["log", "scale"].fit.mse
    for name in ("brier", "log"):
        as_is = rows[name, "none"]
        assert as_is.fit == as_is.held_out
        # a positive scale and an offset leave the correlations as they are
        assert rows[name, "scale"].fit.pearson == pytest.approx(as_is.fit.pearson)


def test_the_rule_round_trips_through_json(tmp_path: Path):
    rule = fit_aligned(load_items(ITEMS)).rule
    path = tmp_path / "rule.json"
    rule.save(path)
    loaded = AlignedRule.load(path)
    assert loaded == rule
    assert loaded.score([0.9, 0.2], [1, 0]) == rule.score([0.9, 0.2], [1, 0])
    path.write_text('{"components": [{"kind": "v", "weight": 1}]}')
    with pytest.raises(AlignedError, match="needs a threshold"):
        AlignedRule.load(path)
    path.write_text('{"components": [{"kind": "brier", "weight": -1}]}')
    with pytest.raises(AlignedError, match="greater than or equal to 0"):
        AlignedRule.load(path)
    with pytest.raises(AlignedError, match="no such file"):
        AlignedRule.load(tmp_path / "missing.json")


def test_items_are_checked(tmp_path: Path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"reports": [0.5, 0.2], "outcomes": [1], "human": 1}\n')
    with pytest.raises(
        AlignedError, match=r"(?s)items.jsonl:1: not an item.*2 reports for 1 outcomes"
    ):
        load_items(path)
    path.write_text('{"reports": [1.5], "outcomes": [1], "human": 1}\n')
    with pytest.raises(AlignedError, match="less than or equal to 1"):
        load_items(path)
    with pytest.raises(AlignedError, match="cannot be split into 5 folds"):
        fit_aligned(load_items(ITEMS)[:3])


def command_app() -> typer.Typer:
    """The two commands mounted as ``webserv behaviour`` will mount them."""
    app = typer.Typer()
    app.command("fit-aligned")(fit_aligned_command)
    app.command("score-text")(score_text_command)
    return app


def test_fit_aligned_command(tmp_path: Path):
    out = tmp_path / "rule.json"
    result = CliRunner().invoke(command_app(), ["fit-aligned", str(ITEMS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "agreement with the human scores" in result.output
        and f"rule written to {out}" in result.output
    )
    assert AlignedRule.load(out) == fit_aligned(load_items(ITEMS)).rule

    as_json = CliRunner().invoke(
        command_app(),
        ["fit-aligned", str(ITEMS), "--out", str(out), "--thresholds", "0.5", "--no-log", "--json"],
    )
    assert as_json.exit_code == 0, as_json.output
    components = json.loads(as_json.output)["rule"]["components"]
    assert [(c["kind"], c["threshold"]) for c in components] == [("v", 0.5), ("brier", None)]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"reports": [0.5], "outcomes": [2], "human": 1}\n')
    for args in (
        [str(bad), "--out", str(out)],
        [str(ITEMS), "--out", str(out), "--thresholds", "1.5"],
        [str(tmp_path / "none.jsonl"), "--out", str(out)],
    ):
        result = CliRunner().invoke(command_app(), ["fit-aligned", *args])
        assert result.exit_code == 2 and "error:" in result.output, result.output


# --- reading replies ----------------------------------------------------------------------


def test_replies_are_read_leniently_in_form_and_strictly_in_meaning():
    fenced = "Sure!\n```json\n{'answers': {'1': 0.9, '2': '10%', '3': 0,},}\n```"
    assert read_reports(fenced, 3) == [0.9, 0.1, 0.0]
    assert read_reports('{"answers": [1, "0.25", true]}', 3) == [1.0, 0.25, 1.0]
    # a reasoning model's draft before the answer: the last object with the key is read
    thinking = '<think>maybe {"answers": {"1": 0.1}}</think>{"answers": {"1": 0.8}}'
    assert read_reports(thinking, 1) == [0.8]
    assert [yes_no(v) for v in ("Yes.", "no", True, 0, "TRUE")] == [1, 0, 1, 0, 1]
    assert probability("80%") == pytest.approx(0.8)
    generated = read_generated(
        '{"questions": [{"Question": "Is it a helmet?", "answer": "yes"},'
        ' {"question": "Is a price named?", "answer": "No"}, {"question": "x", "answer": "no"}]}',
        limit=2,
    )
    assert generated.questions == ["Is it a helmet?", "Is a price named?"]
    assert generated.outcomes == [1, 0]
    for reply, m, message in [
        ("I cannot answer that.", 1, 'no JSON object with "answers"'),
        ('{"answers": {"1": 0.5}}', 2, "does not answer question 2"),
        ('{"answers": {"1": 1.7}}', 1, r"must lie in \[0, 1\]"),
        ('{"answers": {"1": "likely"}}', 1, "not a probability"),
        ('{"answers": [0.5]}', 2, "1 answers to 2 questions"),
    ]:
        with pytest.raises(ElicitationError, match=message):
            read_reports(reply, m)
    with pytest.raises(ElicitationError, match="not a yes/no answer"):
        yes_no("maybe")
    with pytest.raises(ElicitationError, match="its text and an answer"):
        read_generated('{"questions": ["Is it a helmet?"]}', 5)


# --- through the stand-in endpoint --------------------------------------------------------

BRIER = AlignedRule(components=[RuleComponent(kind="brier", weight=1.0)])


def user_text(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


def quoted(prompt: str) -> str:
    """The text between <<< and >>> of a prompt."""
    match = re.search(r"<<<\n(.*)\n>>>", prompt, re.DOTALL)
    assert match is not None
    return match.group(1)


def shopping_reader(body: dict[str, Any]) -> str:
    """A stand-in reader: "search?" and "buy?" answered by the words a text contains.

    Writes two questions from a reference (in a code fence, with a trailing comma), answers
    given questions for a reference, and reports 0.9 / 0.1 for a text.
    """
    prompt = user_text(body)
    said = quoted(prompt).lower()
    if prompt.startswith("Reference text (") and "Write" in prompt:
        questions = [
            {
                "question": "Does the shopper intend to search?",
                "answer": "yes" if "search" in said else "no",
            },
            {
                "question": "Does the shopper intend to buy?",
                "answer": "yes" if "buy" in said else "no",
            },
        ]
        return "```json\n" + json.dumps({"questions": questions})[:-1] + ",}\n```"
    if prompt.startswith("Reference text:"):
        return json.dumps(
            {"answers": {"1": "yes" if "search" in said else "no", "2": "buy" in said}}
        )
    if "garbage" in said:
        return "I would rather not say."
    reports = {"1": 0.9 if "search" in said else 0.1, "2": 0.9 if "buy" in said else 0.1}
    return json.dumps({"answers": reports})


def stand_in(url: str, **settings: Any) -> ChatModel:
    return ChatModel(ModelConfig(endpoint=url, model="stand-in", temperature=0, **settings))


async def test_texts_are_scored_through_the_endpoint():
    reference = "I am looking for helmet, so I search for it."
    with chat_server(shopping_reader) as chat:
        model = stand_in(chat.base_url)
        scorer = TextScorer(model, BRIER, ElicitationConfig(generate=2))
        same, other = await asyncio.gather(
            scorer.score("I search for a helmet.", reference),
            scorer.score("I want to buy it now.", reference),
        )
        await model.close()
    # outcomes (search yes, buy no); reports 0.9/0.1: Brier 1 - 0.01 on both questions
    assert same.outcomes == [1, 0] and same.reports == [0.9, 0.1]
    assert same.score == pytest.approx(0.99)
    # reports 0.1/0.9, both wrong by 0.9: 1 - 0.81
    assert other.score == pytest.approx(0.19)
    prompts = [user_text(b) for b in chat.requests]
    # the reference is asked about once, though both texts wanted it at the same time
    assert len(prompts) == 3 and prompts[0].startswith("Reference text (")
    assert all(reference not in p for p in prompts[1:])  # a text is read without the reference
    assert all(b["temperature"] == 0 for b in chat.requests)


async def test_given_questions_garbage_and_the_reward_term():
    questions = ["Does the shopper intend to search?", "Does the shopper intend to buy?"]
    with chat_server(shopping_reader) as chat:
        model = stand_in(chat.base_url)
        scorer = TextScorer(model, BRIER, ElicitationConfig(questions=questions))
        term = await aligned_rationale_term(scorer, "I buy it.", "I want to buy it now.", 0.5)
        garbage = await aligned_rationale_term(scorer, "garbage", "I want to buy it now.", 0.5)
        unrecorded = await aligned_rationale_term(scorer, "I buy it.", "  ", 0.5)
        await model.close()
    assert "1. Does the shopper intend to search?" in user_text(chat.requests[0])
    assert term.score == pytest.approx(0.99) and term.value == pytest.approx(0.495)
    assert garbage.value == 0 and garbage.score is None
    assert garbage.error.startswith('text: no JSON object with "answers"')
    assert unrecorded.value == 0 and unrecorded.error == "no recorded rationale"
    assert len(chat.requests) == 3  # one reference call, two texts; nothing for no reference


async def test_an_unreadable_reference_reply_and_a_failing_endpoint():
    def confused_at_first(body: dict[str, Any]) -> str:
        return "no idea" if len(chat.requests) == 1 else shopping_reader(body)

    with chat_server(confused_at_first) as chat:
        model = stand_in(chat.base_url)
        scorer = TextScorer(model, BRIER)
        scored = await scorer.score("I search.", "I search for a helmet.")
        again = await scorer.score("I search.", "I search for a helmet.")
        await model.close()
    assert scored.score is None
    assert scored.error.startswith('reference: no JSON object with "questions"')
    assert again.score == pytest.approx(0.99)  # a failure is not kept: the reference is re-asked
    with chat_server(shopping_reader, fail_status=500) as chat:
        model = stand_in(chat.base_url, max_retries=0)
        with pytest.raises(ModelError, match="failed"):
            await TextScorer(model, BRIER).score("I search.", "I search for a helmet.")
        await model.close()


def predictions_of_first_session(tmp_path: Path) -> tuple[Path, int]:
    """The first recorded session's actions as predictions, rationales as recorded but one.

    Step 1's "I am looking for helmet, so I search for it." is predicted as "I want to buy it
    now." Returns the file and the number of steps with an OPeRA action (the scored ones).
    """
    rows = [json.loads(line) for line in STEPS.read_text().splitlines()]
    session = [r for r in rows if r["session_id"] == rows[0]["session_id"] and r["action"]]
    lines = [
        {
            "session_id": r["session_id"],
            "step": r["step"],
            "predicted": r["action"],
            "rationale": "I want to buy it now." if r["step"] == 1 else r["rationale"],
        }
        for r in session
    ]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path, len(session)


def test_score_text_command_through_the_endpoint(tmp_path: Path):
    predictions, n = predictions_of_first_session(tmp_path)
    rule = tmp_path / "rule.json"
    BRIER.save(rule)
    out = tmp_path / "scores.jsonl"
    with chat_server(shopping_reader) as chat:
        args = ["score-text", str(predictions), str(STEPS), "--rule", str(rule)]
        args += ["--endpoint", chat.base_url, "--model", "stand-in", "--out", str(out)]
        result = CliRunner().invoke(
            command_app(), [*args, "--question", "Search?", "--question", "Buy?"]
        )
        table = CliRunner().invoke(command_app(), args)
    assert result.exit_code == 0, result.output
    assert table.exit_code == 0 and "mean aligned score" in table.output, table.output
    assert "rationales scored, 0 unreadable" in result.output
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scores) == n == 11
    # every rationale as recorded scores 0.99; the changed one 0.19 (search -> buy)
    assert sorted(s["score"] for s in scores) == pytest.approx([0.19] + [0.99] * 10)
    changed = next(s for s in scores if s["step"] == 1)
    assert changed["reference"] == "I am looking for helmet, so I search for it."
    assert changed["rouge_l"] < 0.5


def test_score_text_command_errors(tmp_path: Path):
    predictions, _ = predictions_of_first_session(tmp_path)
    rule = tmp_path / "rule.json"
    BRIER.save(rule)
    with chat_server(shopping_reader, fail_status=400) as chat:
        args = ["score-text", str(predictions), str(STEPS), "--rule", str(rule)]
        args += ["--endpoint", chat.base_url, "--model", "stand-in"]
        failing = CliRunner().invoke(command_app(), args)
        no_rule = CliRunner().invoke(
            command_app(), [*args[:4], str(tmp_path / "x.json"), *args[5:]]
        )
    assert failing.exit_code == 2 and "error:" in failing.output and "failed" in failing.output
    assert no_rule.exit_code == 2 and "no such file" in no_rule.output


def test_eval_adds_the_aligned_rationale_term_to_each_formatted_reply(tmp_path: Path):
    """``behaviour eval --aligned-rule``: the scripted shopper's rationales are the recorded
    ones, which the stand-in reader reports as it answers for them (0.9 / 0.1 against
    outcomes 1 / 0): Brier 0.99 on every scored step, times the weight."""
    from webserv.cli import app

    rule = tmp_path / "brier.json"
    BRIER.save(rule)
    out = tmp_path / "eval"
    with chat_server(shopping_reader) as chat:
        args = ["behaviour", "eval", str(STEPS), "--policy", "scripted", "--out", str(out)]
        args += ["--aligned-rule", str(rule), "--aligned-weight", "0.5", "--json"]
        args += ["--aligned-endpoint", chat.base_url, "--aligned-model", "stand-in"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    predictions = [
        json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()
    ]
    terms = [p["reward"]["aligned_rationale"] for p in predictions if p["reward"]]
    assert len(terms) == 20 and terms == pytest.approx([0.495] * 20)
    assert summary["reward"]["aligned_rationale"] == pytest.approx(0.495)
    assert "api_key" not in summary["config"]["aligned"]["model"]
    missing = CliRunner().invoke(app, [*args[:9], "--aligned-rule", str(rule)])
    assert missing.exit_code == 2 and "--aligned-rule needs an endpoint" in missing.output
