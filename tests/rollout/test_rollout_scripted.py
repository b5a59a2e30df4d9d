"""Rollouts end to end on in-process envs: the scripted shopper, a GRPO group, and the VLM
policy against the chat stand-in (no model can be loaded here), all written as JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import server_fixtures
from chat_server import chat_server

from webserv.browser.session import SessionConfig
from webserv.env.runtime import EnvRuntime
from webserv.policy.vlm import ModelConfig
from webserv.rollout.envs import InProcessFleet
from webserv.rollout.records import read_jsonl
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.tasks.suite import load_suite

pytestmark = pytest.mark.browser

server_runtime = server_fixtures.server_runtime  # one runtime for every test that needs one


@pytest.fixture
def runtime(server_runtime: EnvRuntime) -> EnvRuntime:
    return server_runtime


def fleet(runtime: EnvRuntime, max_steps: int, screenshot: bool = True) -> InProcessFleet:
    return InProcessFleet(
        runtime.config,
        max_steps=max_steps,
        browser_config=SessionConfig(screenshot=screenshot),
        runtime=runtime,
    )


def storefront_tasks() -> list[Any]:
    return [t for t in load_suite("shop").tasks if t.sites == ["shopping"]][:2]


async def test_scripted_shopper_rollout_writes_every_step(runtime: EnvRuntime, tmp_path: Path):
    config = RolloutConfig(policy="scripted", envs=2, episodes=2, max_steps=5, out=tmp_path)
    summary = await run_rollouts(config, fleet(runtime, 5), storefront_tasks())
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    steps = read_jsonl(tmp_path / "steps.jsonl")
    assert summary.totals.episodes == 2 and summary.totals.episode_errors == 0
    assert [e["error"] for e in episodes] == ["", ""]
    assert len(steps) == summary.totals.steps == sum(e["steps"] for e in episodes)
    assert {e["persona"] for e in episodes} == {"Maya Chen", "Daniel Okafor"}
    for session in {s["session_id"] for s in steps}:
        numbers = [s["step"] for s in steps if s["session_id"] == session]
        assert sorted(numbers) == list(range(len(numbers)))
    first = next(s for s in steps if s["step"] == 0)
    # the shop opens with its cookie dialog; the shopper closes it, with a reason
    assert "Accept cookies and close" in first["observation_text"]
    assert first["action"]["type"] == "click" and first["action_type"] == "click"
    assert first["env_action"] == f'click("{first["semantic_id"]}")'
    assert json.loads(first["model_output"])["rationale"] == first["rationale"] != ""
    searches = [s for s in steps if s["action_type"] == "type_and_submit"]
    assert searches and all(s["input_text"] for s in searches)
    for step in steps:
        assert step["format_ok"] and step["action_error"] == ""
        assert (tmp_path / step["image"]).read_bytes().startswith(b"\x89PNG")
        assert step["timings"]["env_ms"] > 0 and step["obs_tokens"] > 0
        assert step["settled"] is True
        # Every element acted on is boxed where its screenshot shows it.
        if step["semantic_id"]:
            assert step["target"]["id"] == step["semantic_id"], step
            x, y, w, h = step["target"]["box"]
            assert w > 0 and h > 0 and step["target"]["point"] == [x + w // 2, y + h // 2]
    [run] = read_jsonl(tmp_path / "runs.jsonl")
    assert run["run_id"] == summary.run_id and run["target"] == "in-process"
    assert run["totals"]["steps_per_s"] > 0
    assert {s["session_id"].split("-")[0] for s in steps} == {summary.run_id}


async def test_a_second_run_into_a_directory_adds_to_the_first(runtime: EnvRuntime, tmp_path: Path):
    runs = []
    for policy in ("scripted", "random"):
        config = RolloutConfig(policy=policy, envs=1, episodes=1, max_steps=1, out=tmp_path)
        runs.append(
            await run_rollouts(config, fleet(runtime, 1, screenshot=False), storefront_tasks())
        )
    summaries = read_jsonl(tmp_path / "runs.jsonl")
    assert [r["run_id"] for r in summaries] == [r.run_id for r in runs]
    assert [r["config"]["policy"] for r in summaries] == ["scripted", "random"]
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert [(e["session_id"], e["policy"]) for e in episodes] == [
        (f"{runs[0].run_id}-0000", "scripted"),
        (f"{runs[1].run_id}-0000", "random"),
    ]
    steps = read_jsonl(tmp_path / "steps.jsonl")
    assert [s["session_id"] for s in steps] == [e["session_id"] for e in episodes]


async def test_group_episodes_start_identically(runtime: EnvRuntime, tmp_path: Path):
    config = RolloutConfig(
        policy="scripted", envs=2, episodes=2, group_size=2, max_steps=2, out=tmp_path
    )
    await run_rollouts(config, fleet(runtime, 2, screenshot=False), storefront_tasks())
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert [e["error"] for e in episodes] == ["", ""]
    steps = read_jsonl(tmp_path / "steps.jsonl")
    assert len({e["group_id"] for e in episodes}) == 1 and episodes[0]["group_id"]
    assert len({e["task_id"] for e in episodes}) == 1 and len({e["persona"] for e in episodes}) == 1
    firsts = [s for s in steps if s["step"] == 0]
    assert len(firsts) == 2 and firsts[0]["observation_text"] == firsts[1]["observation_text"]
    assert firsts[0]["url"] != firsts[1]["url"]  # two instances, one start state
    assert all(s["image"] is None for s in steps)


async def test_vlm_rollout_records_prompts_and_format_errors(runtime: EnvRuntime, tmp_path: Path):
    replies = iter(["Let me think about this shop.", '{"rationale": "Not today.", "action": {'])

    def reply(body: dict[str, Any]) -> str:
        return next(replies, '{"rationale": "Not today.", "action": {"type": "terminate"}}')

    with chat_server(reply) as chat:
        config = RolloutConfig(
            policy="vlm",
            envs=1,
            episodes=1,
            max_steps=4,
            out=tmp_path,
            model=ModelConfig(endpoint=chat.base_url, model="stand-in"),
        )
        summary = await run_rollouts(config, fleet(runtime, 4), storefront_tasks())
    steps = read_jsonl(tmp_path / "steps.jsonl")
    episode = read_jsonl(tmp_path / "episodes.jsonl")[0]
    assert episode["error"] == "" and episode["format_errors"] == 2
    assert [s["format_error"] != "" for s in steps] == [True, True, False]
    assert [s["env_action"] for s in steps] == [None, None, "stop()"]
    assert steps[2]["terminated"] and steps[2]["action"] == {"type": "terminate"}
    assert summary.totals.format_errors == 2
    last = chat.requests[-1]
    assert "could not be used" in json.dumps(last["messages"])  # the model hears of its errors
    image_ref = steps[2]["prompt"][1]["content"][1]["image_url"]["url"]
    assert image_ref == f"file://{steps[2]['image']}"
    assert steps[2]["usage"]["total_tokens"] == 12 and steps[2]["context"]["prompt_tokens"] > 0
