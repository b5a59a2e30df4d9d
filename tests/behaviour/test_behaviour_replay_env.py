"""The replay env: recorded sessions as episodes, through Gymnasium, the rollout runner and
the HTTP server.

The fixture is ``tests/data/behaviour_steps.jsonl`` (two recorded sessions of the scripted
shopper, 24 steps, 20 of them in OPeRA's action space); its recorded replies are the
reference a replayed reply is scored against. No browser: a replay needs none.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import gymnasium
import httpx
import psutil
import pytest
from gymnasium.utils.env_checker import check_env
from PIL import Image
from typer.testing import CliRunner

import webserv.env  # noqa: F401 - registers webserv/Replay-v0
from benchmarks.serving import server_process
from webserv.behaviour.replay import EvalConfig, ReplayError, evaluate, gold_action, load_steps
from webserv.behaviour.replay_env import ReplayEnv, ReplayFleet, ReplaySource, read_action
from webserv.behaviour.rewards import CustomerR1Config, reply_reward
from webserv.cli import app
from webserv.client import RemoteEnvError, RemoteWebEnv
from webserv.env.session import EpisodeOver
from webserv.rollout.records import read_jsonl
from webserv.rollout.runner import RolloutConfig, run_rollouts

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"
RECORDED = load_steps(STEPS)
FIRST = "7a18ea50-0000"  # 14 steps: clicks, typing, selects and a back() (not scored)


def rows(session: str) -> list:
    return sorted((s for s in RECORDED if s.session_id == session), key=lambda s: s.step)


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def with_screenshot(tmp_path: Path) -> Path:
    """The fixture in a run dir of its own, the first step of FIRST with a screenshot file."""
    lines = []
    for line in STEPS.read_text().splitlines():
        record = json.loads(line)
        if record["session_id"] == FIRST and record["step"] == 0:
            record["image"] = "screenshots/first.png"
        lines.append(json.dumps(record))
    (tmp_path / "screenshots").mkdir()
    (tmp_path / "screenshots" / "first.png").write_bytes(png((250, 10, 10)))
    (tmp_path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_gymnasium_episode_scores_each_reply_and_follows_the_recording():
    env = gymnasium.make("webserv/Replay-v0", steps=str(STEPS))
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(options={"task_id": FIRST})
    recorded = rows(FIRST)
    assert info["replay"]["recorded_steps"] == len(recorded) == 14
    assert info["replay"]["persona"] == "Tom Becker"
    for i, step in enumerate(recorded):
        assert (obs["url"], obs["text"]) == (step.url, step.observation_text)
        assert obs["goal"] == step.intent
        obs, reward, terminated, truncated, info = env.step(step.model_output)
        gold = gold_action(step)
        assert info["scored"] is (gold is not None)
        assert info["recorded"]["decision"]["rationale"] == step.rationale
        assert info["recorded"]["decision"]["action"] == step.env_action
        if gold is None:  # select() and back(): shown, not scored
            assert reward == 0.0 and "exact" not in info
        else:
            assert info["exact"] is True
            assert reward == pytest.approx(reply_reward(step.model_output, gold).total)
            # Shop-R1: a right click or typing earns over 1000, a right terminate 0.8.
            assert reward > 1000 or (gold.type == "terminate" and reward == pytest.approx(0.8))
        assert terminated is (i == len(recorded) - 1)
        assert not truncated
    assert info["evaluation"] == {"score": 1.0, "evaluable": True, "exact": 11, "scored": 11}
    with pytest.raises(EpisodeOver):
        env.step(recorded[-1].model_output)
    env.close()


def test_an_action_alone_earns_the_action_terms_and_garbage_earns_nothing():
    env = ReplayEnv(STEPS)
    env.reset(options={"task_id": FIRST})  # step 0: the recorded click of [3]
    _, whole, _, _, _ = env.step(
        '{"rationale": "Close the banner.", "action": {"type": "click", "name": "3"}}'
    )
    assert whole == pytest.approx(1001.0)  # format 0.5 + type 0.3 + name 0.2 + 1000 x 1
    for alone in ('click("3")', {"type": "click", "name": "3"}):
        env.reset(options={"task_id": FIRST})
        _, reward, _, _, info = env.step(alone)  # type: ignore[arg-type]
        assert reward == pytest.approx(whole - 0.5), alone  # no format term
        assert info["exact"] is True and info["reward_terms"]["format_ok"] is True
    env.reset(options={"task_id": FIRST})
    obs, reward, _, _, info = env.step('click("4")')
    assert info["exact"] is False and reward == pytest.approx(0.5)  # right type, named, wrong id
    for garbage in ("hello", 'scroll("down")', '{"rationale": "x"}'):
        env.reset(options={"task_id": FIRST})
        obs, reward, terminated, _, info = env.step(garbage)
        assert reward == 0.0 and info["exact"] is False, garbage
        assert obs["last_action"] == garbage and obs["last_action_error"], garbage
        assert obs["url"] == rows(FIRST)[1].url and not terminated  # the recording goes on
    assert read_action('scroll("down")')[2].endswith(
        "not one of OPeRA's click, type_and_submit, terminate"
    )


def test_customer_r1_and_truncation_and_screenshots(with_screenshot: Path):
    env = ReplayEnv(with_screenshot, reward=CustomerR1Config(), max_steps=3, screenshot=True)
    obs, _ = env.reset(options={"task_id": FIRST})
    assert obs["screenshot"].shape == (720, 1280, 3)
    assert tuple(obs["screenshot"][360, 640]) == (250, 10, 10)  # the recorded file, scaled
    first = rows(FIRST)[0]
    _, reward, _, _, info = env.step(first.model_output)
    assert info["reward_terms"]["scheme"] == "customer-r1"
    assert reward == pytest.approx(1000.1)  # an exact click of unknown type + format 0.1
    obs, _, _, _, _ = env.step("x")
    assert not obs["screenshot"].any()  # no screenshot recorded there: black
    _, _, terminated, truncated, info = env.step("x")
    assert (terminated, truncated) == (False, True)
    assert info["evaluation"]["scored"] == 3


def test_bad_sources_and_unknown_sessions(tmp_path: Path):
    with pytest.raises(ReplayError, match="no such file"):
        ReplaySource(tmp_path / "missing.jsonl")
    (tmp_path / "steps.jsonl").write_text('{"session_id": "a"}\n')
    with pytest.raises(ReplayError, match="not a step record"):
        ReplaySource(tmp_path)
    env = ReplayEnv(STEPS)
    with pytest.raises(KeyError, match="no task 'nope'"):
        env.reset(options={"task_id": "nope"})
    with pytest.raises(EpisodeOver):
        env.step('click("3")')


async def test_rollout_over_replays_matches_the_offline_evaluation(tmp_path: Path):
    """The runner sends whole replies, keeps the recorded history, and scores as `eval` does:
    the scripted shopper with each session's recorded persona predicts every action."""
    source = ReplaySource(STEPS)
    config = RolloutConfig(
        policy="scripted", envs=2, episodes=2, max_steps=50, out=tmp_path / "run", personas=None
    )
    fleet = ReplayFleet(source, max_steps=50, screenshot=False)
    summary = await run_rollouts(config, fleet, source.suite.tasks)
    assert summary.totals.episodes == 2 and summary.totals.successes == 2
    assert summary.totals.steps == len(RECORDED)
    evaluated = await evaluate(EvalConfig(steps=STEPS, out=tmp_path / "eval", policy="scripted"))
    assert evaluated.metrics.exact_accuracy == 1.0
    steps = [
        json.loads(line) for line in (tmp_path / "run" / "steps.jsonl").read_text().splitlines()
    ]
    by_key = {(s.session_id, s.step): s for s in RECORDED}
    for step in steps:
        recorded = by_key[(step["task_id"], step["step"])]
        assert step["observation_text"] == recorded.observation_text
        assert step["env_action"] == recorded.env_action
    episodes = [
        json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()
    ]
    assert {e["persona"] for e in episodes} == {"Tom Becker", "Priya Raman"}
    assert all(e["score"] == 1.0 and e["terminated"] for e in episodes)


def test_server_serves_replays_as_a_site_without_a_browser(tmp_path: Path, with_screenshot: Path):
    server = server_process(
        "--replay",
        f"opera={with_screenshot}",
        "--reward",
        "customer-r1",
        log=tmp_path / "server.log",
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            pool = http.get("/v1/pool").json()
            assert pool["sites"] == ["opera"] and pool["pools"] == []
            bad = http.post("/v1/envs", json={"site": "opera", "task": "nope"})
            assert bad.status_code == 400 and "nope" in bad.text
            other = http.post("/v1/envs", json={"site": "shop"})
            assert other.status_code == 400
        env = RemoteWebEnv(server.url, site="opera", task=FIRST)
        try:
            obs, info = env.reset()
            assert info["replay"]["reward"] == "customer-r1"
            assert obs["text"] == rows(FIRST)[0].observation_text
            assert env.env_id is not None
            shot = env.calls.screenshot(env.env_id)
            assert shot == (with_screenshot / "screenshots" / "first.png").read_bytes()
            _, reward, _, _, info = env.step(rows(FIRST)[0].model_output)
            assert info["exact"] is True and reward == pytest.approx(1000.1)
            with pytest.raises(RemoteEnvError) as missing:
                env.calls.screenshot(env.env_id)  # the second page has none recorded
            assert missing.value.status == 404
        finally:
            env.close()
        assert server.proc is not None
        # Recorded sessions need no browser: the server started no Chromium.
        names = [child.name() for child in psutil.Process(server.proc.pid).children(recursive=True)]
        assert not [name for name in names if "chrom" in name], names
    finally:
        server.stop()


def test_cli_refuses_a_missing_replay(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["rollout", "--replay", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(app, ["serve", "--replay", str(tmp_path / "nope.jsonl"), "--port", "0"])
    assert result.exit_code == 2 and "no such file" in result.output


async def test_rollout_over_an_opera_import_scores_what_eval_scores(tmp_path: Path):
    """On OPeRA's recorded shoppers (the committed fixture, imported), each with their survey
    persona, a replayed rollout's episode scores are eval's per-session exact accuracies."""
    from webserv.behaviour.opera import import_dataset

    run = tmp_path / "opera"
    import_dataset(Path(__file__).parents[1] / "data" / "opera", run)
    source = ReplaySource(run)
    assert all(task.shopper["profile"].startswith("In a survey") for task in source.suite.tasks)
    n = len(source.suite.tasks)
    config = RolloutConfig(policy="scripted", envs=4, episodes=n, out=tmp_path / "r", personas=None)
    await run_rollouts(
        config, ReplayFleet(source, max_steps=50, screenshot=False), source.suite.tasks
    )
    scores = {e["task_id"]: e["score"] for e in read_jsonl(tmp_path / "r" / "episodes.jsonl")}
    await evaluate(EvalConfig(steps=run / "steps.jsonl", out=tmp_path / "e", policy="scripted"))
    exact: dict[str, list[bool]] = {}
    for line in read_jsonl(tmp_path / "e" / "predictions.jsonl"):
        if line["exact"] is not None:
            exact.setdefault(line["session_id"], []).append(line["exact"])
    assert len(exact) == n == 10
    assert scores == {sid: pytest.approx(sum(v) / len(v)) for sid, v in exact.items()}
