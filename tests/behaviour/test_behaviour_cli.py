"""``webserv behaviour score`` and ``eval`` end to end.

``eval`` runs against the OpenAI-compatible stand-in of ``chat_server.py`` on a loopback
port: only the hosted model is replaced (no model can be loaded here); the policy, its
prompt building and reply parsing, the replay, the reward and the metrics are the real ones.
The recorded steps are ``data/behaviour_steps.jsonl``, from a real scripted rollout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chat_server import chat_server
from typer.testing import CliRunner

from webserv.cli import app

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def first_session(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    rows = [json.loads(x) for x in STEPS.read_text().splitlines()]
    session = sorted(
        (r for r in rows if r["session_id"] == rows[0]["session_id"]), key=lambda r: r["step"]
    )
    return write_jsonl(tmp_path / "gold.jsonl", session), session


def test_score_prints_the_table_and_json(tmp_path: Path):
    gold, session = first_session(tmp_path)
    scorable = [r for r in session if r["action"] is not None]
    predictions = [
        {"session_id": r["session_id"], "step": r["step"], "predicted": r["action"]}
        for r in scorable
    ]
    predictions[0]["predicted"] = {"type": "click", "name": "999"}  # right type, wrong target
    predictions[1]["predicted"] = None  # a format error
    pred = write_jsonl(tmp_path / "pred.jsonl", predictions)

    result = CliRunner().invoke(app, ["behaviour", "score", str(pred), str(gold), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    n = len(scorable)
    assert data["paired"] == n and data["missing"] == 0
    assert data["not_scored"] == len(session) - n
    assert data["metrics"]["exact"] == n - 2 and data["metrics"]["unusable"] == 1
    assert data["metrics"]["type_accuracy"] == (n - 1) / n
    assert data["reward"] is None  # no model_output to reward

    table = CliRunner().invoke(app, ["behaviour", "score", str(pred), str(gold)])
    assert table.exit_code == 0, table.output
    assert "type macro F1" in table.output and "type_and_submit" in table.output


def test_score_refuses_files_that_do_not_pair(tmp_path: Path):
    gold, _ = first_session(tmp_path)
    pred = write_jsonl(
        tmp_path / "pred.jsonl", [{"session_id": "other", "step": 0, "action": None}]
    )
    result = CliRunner().invoke(app, ["behaviour", "score", str(pred), str(gold)])
    assert result.exit_code == 2 and "matched by session_id and step" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    result = CliRunner().invoke(app, ["behaviour", "score", str(bad), str(gold)])
    assert result.exit_code == 2 and "not JSON lines" in result.output


def request_text(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"] if isinstance(m["content"], str))


def always_terminate(body: dict[str, Any]) -> str:
    """Terminate on every page, except an unreadable reply on the first page of a session."""
    if "# Your session so far" not in request_text(body):
        return "I would close the pop-up first."
    return json.dumps({"rationale": "Nothing here for me.", "action": {"type": "terminate"}})


def test_eval_against_an_openai_compatible_endpoint(tmp_path: Path):
    out = tmp_path / "eval"
    with chat_server(always_terminate) as chat:
        result = CliRunner().invoke(
            app,
            [
                "behaviour",
                "eval",
                str(STEPS),
                "--policy",
                "vlm",
                "--endpoint",
                chat.base_url,
                "--model",
                "stand-in",
                "--out",
                str(out),
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    assert len(chat.requests) == 24  # every recorded step is replayed
    later = [request_text(b) for b in chat.requests if "# Your session so far" in request_text(b)]
    assert any("I am looking for helmet, so I search for it." in t for t in later)
    assert any("Tom Becker" in t for t in later)  # the recorded persona

    summary = json.loads(result.output)
    assert "api_key" not in summary["config"]["model"]
    m = summary["metrics"]
    assert summary["scored"] == 20 and summary["format_ok_rate"] == 22 / 24
    # the always-terminate signature: right on terminate, wrong everywhere else
    assert m["per_class"]["terminate"]["type_accuracy"] == 1.0
    assert m["per_class"]["click"]["type_accuracy"] == 0.0
    assert m["exact"] == 2 and m["unusable"] == 2
    # 2 unreadable replies earn 0, 2 right terminations 0.8, 16 wrong types 0.5 (format only)
    assert summary["reward"]["total"] == pytest.approx((2 * 0.8 + 16 * 0.5) / 20)

    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    unreadable = [x for x in lines if not x["format_ok"]]
    assert len(unreadable) == 2 and all(x["reward"]["total"] == 0 for x in unreadable)
    assert json.loads((out / "summary.json").read_text())["metrics"] == m

    # the evaluation's predictions score the same with `score`, rewards included
    scored = CliRunner().invoke(
        app, ["behaviour", "score", str(out / "predictions.jsonl"), str(STEPS), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    rescored = json.loads(scored.output)
    assert rescored["metrics"] == m and rescored["reward"] == summary["reward"]


def test_eval_needs_a_model_and_a_working_endpoint(tmp_path: Path):
    result = CliRunner().invoke(app, ["behaviour", "eval", str(STEPS)])
    assert result.exit_code == 2 and "--endpoint and --model" in result.output
    with chat_server(always_terminate, fail_status=500) as chat:
        result = CliRunner().invoke(
            app,
            [
                "behaviour",
                "eval",
                str(STEPS),
                "--endpoint",
                chat.base_url,
                "--model",
                "m",
                "--out",
                str(tmp_path),
            ],
        )
    assert result.exit_code == 2 and "failed" in result.output
