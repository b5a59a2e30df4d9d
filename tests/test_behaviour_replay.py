"""Offline replay of recorded steps: the policy sees what it saw when the steps were recorded.

``data/behaviour_steps.jsonl`` is the ``steps.jsonl`` of a real scripted rollout (2 episodes,
24 steps, every action type, 4 steps outside the OPeRA action space). The scripted shopper
is deterministic for its persona and seed, so replaying it offline must reproduce every
recorded action: that checks the rebuilt observations and histories end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webserv.behaviour.replay import (
    EvalConfig,
    ReplayError,
    evaluate,
    gold_action,
    load_steps,
    recorded_observation,
    recorded_turn,
    score,
    sessions,
)

STEPS = Path(__file__).parent / "data" / "behaviour_steps.jsonl"


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
