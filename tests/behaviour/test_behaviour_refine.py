"""Persona refinement (DPRF): divergence reports, the keep-or-drop rule, the loop end to end.

No model can be loaded here: the shopper, the analyst and the rewriter are the chat stand-in
of ``chat_server.py``, scripted per test. The shopper it plays acts exactly like the recorded
person when the persona in its system prompt says "GOOD", and always leaves otherwise, so
which rewrite should be kept is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chat_server import chat_server
from typer.testing import CliRunner

from webserv.behaviour.metrics import behaviour_report
from webserv.behaviour.refine import (
    BDI_PARTS,
    RefineConfig,
    bdi_sections,
    divergence,
    refine_persona,
    split_sessions,
)
from webserv.behaviour.replay import Prediction, ReplayError, load_steps, outcomes, sessions
from webserv.cli import app
from webserv.policy.persona import Persona
from webserv.policy.vlm import ModelConfig

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"
REFINE, HELD = "7a18ea50-0000", "7a18ea50-0001"


@pytest.fixture
def one_shopper(tmp_path: Path) -> Path:
    """The fixture's two sessions as one shopper's (Tom Becker), each with its own task."""
    lines = [json.loads(line) for line in STEPS.read_text().splitlines()]
    for line in lines:
        line["persona"] = "Tom Becker"
    (tmp_path / "steps.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return tmp_path / "steps.jsonl"


def shopper_reply(body: dict[str, Any]) -> str | None:
    """The stand-in shopper: the recorded reply of the step asked about when its persona says
    GOOD, else terminate. None for a request that is not the shopper's."""
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    if not system.startswith("You are a customer shopping"):
        return None
    text = user if isinstance(user, str) else "".join(p.get("text", "") for p in user)
    if "GOOD" not in system:
        return '{"rationale": "I am done.", "action": {"type": "terminate"}}'
    recorded = {rows[0].intent: rows for rows in sessions(load_steps(STEPS)).values()}
    intent = text.split("# Task\n", 1)[1].split("\n", 1)[0]
    return recorded[intent][text.count("### Step ")].model_output


def scripted(*rewrites: str, analysis: str = "It leaves too early.") -> Any:
    """The stand-in for the whole loop: the shopper, then the analyst, then each rewrite."""
    left = list(rewrites)

    def reply(body: dict[str, Any]) -> str:
        shopper = shopper_reply(body)
        if shopper is not None:
            return shopper
        if "Rewrite the persona" in body["messages"][1]["content"]:
            return left.pop(0)
        return analysis

    return reply


def config(steps: Path, out: Path, endpoint: str, **more: Any) -> RefineConfig:
    model = ModelConfig(endpoint=endpoint, model="stand-in", max_retries=0)
    start = Persona(name="Tom Becker", profile="You are someone who gives up at once.")
    return RefineConfig(steps=steps, user="Tom Becker", out=out, model=model, persona=start, **more)


def test_divergence_report_from_hand_made_predictions():
    def prediction(step: int, gold: dict, predicted: dict | None, exact: bool) -> Prediction:
        return Prediction(
            session_id="s",
            step=step,
            action_id=str(step),
            predicted=predicted,
            gold=gold,
            gold_rationale=f"real {step}",
            rationale=f"sim {step}",
            exact=exact,
        )

    click = {"type": "click", "name": "buy_box.buy_now"}
    search = {"type": "type_and_submit", "name": "search", "text": "tent"}
    leave = {"type": "terminate"}
    predictions = [
        prediction(0, search, leave, False),
        prediction(1, click, click, True),
        prediction(2, leave, leave, True),
    ]
    fidelity = behaviour_report(outcomes(predictions)).distribution.population
    report = divergence(fidelity, predictions)
    # Real: one of each type; predicted: terminate twice, click once, no typing.
    assert [(s.outcome, round(s.delta, 3)) for s in report.over] == [("terminate", 0.333)]
    assert [(s.outcome, round(s.delta, 3)) for s in report.under] == [("type_and_submit", -0.333)]
    assert (report.terminated_early, report.terminated_late) == (1, 0)  # left at step 0, not 2
    assert report.only_real == report.only_predicted == []  # both clicked buy_now once
    assert [(e.step, e.real_rationale, e.predicted_rationale) for e in report.examples] == [
        (0, "real 0", "sim 0")
    ]
    assert "chosen more often by the simulation (67% of its steps) than by the person (33%)" in (
        report.text()
    )


def test_bdi_sections_and_the_split():
    text = "Beliefs: cheap is bad.\n**Goals**: a tent\nintentions: search first\nOther: x"
    assert bdi_sections(text) == {
        "beliefs": "cheap is bad.",
        "goals": "a tent",
        "intentions": "search first\nOther: x",
    }
    assert BDI_PARTS == ("beliefs", "goals", "intentions", "emotions", "knowledge")
    with pytest.raises(ReplayError, match="'Tom Becker' has 1 sessions"):
        split_sessions(STEPS, "Tom Becker", 1)


async def test_a_rewrite_stays_only_when_it_acts_more_like_the_person(
    one_shopper: Path, tmp_path: Path
):
    assert split_sessions(one_shopper, "Tom Becker", 1) == ([REFINE], [HELD])
    rewrites = ("You are GOOD: you search, compare, then buy.", "You are restless and quit.")
    with chat_server(scripted(*rewrites)) as chat:
        loop = config(one_shopper, tmp_path / "out", chat.base_url, iterations=2)
        result = await refine_persona(loop)
    # Leaving at once matches only the held-out session's last step: 1 of its 9 scored steps.
    assert result.initial.held_out == pytest.approx(1 / 9)
    first, second = result.iterations
    assert first.kept and first.fidelity.held_out == 1.0 and first.fidelity.refine == 1.0
    assert not second.kept and second.fidelity.held_out == pytest.approx(1 / 9)
    assert result.persona.profile == rewrites[0] and result.best.held_out == 1.0
    # The first round analysed the starting persona's divergence, the second the kept one's.
    assert first.divergence.over[0].outcome == "terminate" and first.divergence.examples
    assert second.divergence.over == [] and second.divergence.examples == []
    asked = [b["messages"][1]["content"] for b in chat.requests]
    analyses = [text for text in asked if "How the simulation's actions departed" in text]
    assert len(analyses) == 2
    assert "You are someone who gives up at once." in analyses[0]
    assert "chosen more often by the simulation" in analyses[0]
    saved = json.loads((tmp_path / "out" / "refinement.json").read_text())
    assert "api_key" not in saved["config"]["model"]
    kept = Persona.model_validate_json((tmp_path / "out" / "persona.json").read_text())
    assert kept.profile == rewrites[0]
    assert (tmp_path / "out" / "iteration-2" / "held-out" / "summary.json").is_file()


async def test_bad_analyses_rewrites_and_endpoints_are_errors(one_shopper: Path, tmp_path: Path):
    with chat_server(scripted("ok", analysis="Beliefs: x\nGoals: y")) as chat:
        with pytest.raises(ReplayError, match="no intentions, emotions, knowledge part"):
            await refine_persona(config(one_shopper, tmp_path / "a", chat.base_url, analysis="bdi"))
        with pytest.raises(ReplayError, match="no usable persona"):
            await refine_persona(config(one_shopper, tmp_path / "b", chat.base_url))
    with pytest.raises(ReplayError, match="has 1 sessions"):
        await refine_persona(config(STEPS, tmp_path / "c", "http://127.0.0.1:9/v1"))


def test_command_exits_2_on_a_failing_endpoint_or_missing_options(
    one_shopper: Path, tmp_path: Path
):
    runner = CliRunner()
    with chat_server(scripted(), fail_status=500) as chat:
        result = runner.invoke(
            app,
            ["behaviour", "refine-persona", str(one_shopper), "--user", "Tom Becker",
             "--endpoint", chat.base_url, "--model", "m", "--out", str(tmp_path / "d")],
        )  # fmt: skip
    assert result.exit_code == 2 and "failed" in result.output
    result = runner.invoke(app, ["behaviour", "refine-persona", str(one_shopper), "--user", "x",
                                 "--out", str(tmp_path / "e")])  # fmt: skip
    assert result.exit_code == 2 and "needs --endpoint and --model" in result.output
