"""Rollouts on a webserv server over HTTP: the same runner, envs and groups made remotely."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import server_fixtures

from webserv.client import RemoteEnvError
from webserv.env.runtime import EnvRuntime
from webserv.pool.backends.base import free_port
from webserv.rollout.records import read_jsonl
from webserv.rollout.remote import RemoteFleet
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.server.config import ServerConfig
from webserv.tasks.suite import load_suite

pytestmark = pytest.mark.browser


async def test_scripted_rollout_on_a_server_with_a_group(
    server_runtime: EnvRuntime, tmp_path: Path
):
    tasks = [t for t in load_suite("shop").tasks if t.sites == ["shopping"]][:1]
    config = ServerConfig(server_id=server_fixtures.TEST_OWNER)
    async with server_fixtures.serving(config, server_runtime) as url:
        fleet = RemoteFleet(url, site="shop", max_steps=3, screenshots={"screenshot": True})
        rollout = RolloutConfig(
            policy="scripted", envs=2, episodes=2, group_size=2, max_steps=3, out=tmp_path
        )
        summary = await run_rollouts(rollout, fleet, tasks)
        async with httpx.AsyncClient(base_url=url) as client:
            pool = (await client.get("/v1/pool")).json()
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    steps = read_jsonl(tmp_path / "steps.jsonl")
    assert summary.target == url and summary.totals.episode_errors == 0, episodes
    assert len({e["group_id"] for e in episodes}) == 1
    assert {e["task_id"] for e in episodes} == {tasks[0].task_id}
    assert len(steps) == summary.totals.steps == 6  # three turns each, none failed
    firsts = [s for s in steps if s["step"] == 0]
    assert firsts[0]["observation_text"] == firsts[1]["observation_text"]
    for step in steps:
        assert step["action_error"] == "" and step["timings"]["env_ms"] > 0
        assert step["settled"] is True  # the server's info says so, first pages included
        assert (tmp_path / step["image"]).read_bytes().startswith(b"\x89PNG")
    assert pool["envs"] == []  # every env was closed on the server


async def test_an_unreachable_server_fails_at_start(tmp_path: Path):
    fleet = RemoteFleet(f"http://127.0.0.1:{free_port()}", site="shop", retry_for_s=0)
    with pytest.raises(RemoteEnvError, match="unreachable"):
        await run_rollouts(
            RolloutConfig(envs=1, episodes=1, out=tmp_path), fleet, load_suite("shop").tasks[:1]
        )
