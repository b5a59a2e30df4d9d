"""The SkyRL adapter against a real server, Chromium and shop: one trajectory from the first
page to the reward, GRPO repetitions sharing one webserv group, and the errors it reports."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import server_fixtures

from webserv.client import RemoteEnvError
from webserv.env.runtime import EnvRuntime
from webserv.server.config import ServerConfig

skyrl_gym = pytest.importorskip("skyrl_gym")
from webserv.cluster.skyrl import WebservTextEnv  # noqa: E402 (needs skyrl_gym)

pytestmark = pytest.mark.browser


PROMPT = [{"role": "user", "content": "Work in the shop's admin."}]


@pytest.fixture(scope="module")
async def base_url(server_runtime: EnvRuntime) -> AsyncIterator[str]:
    config = ServerConfig(server_id=server_fixtures.TEST_OWNER)
    async with server_fixtures.serving(config, server_runtime) as url:
        yield url


async def status_of(base_url: str, env_id: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return (await client.get(f"/v1/envs/{env_id}")).status_code


def make(base_url: str, extras: dict[str, Any], **config: Any) -> WebservTextEnv:
    env = skyrl_gym.make("webserv", env_config={"base_url": base_url, **config}, extras=extras)
    assert isinstance(env, WebservTextEnv)
    return env


def element(page: str, role: str, name: str) -> str:
    """The id of the element shown as ``[id] role "name"`` on a page."""
    found = re.search(rf'\[(\w+)\] {role} "{re.escape(name)}"', page)
    assert found, f'no {role} "{name}" on the page:\n{page}'
    return found.group(1)


async def test_a_trajectory_from_the_first_page_to_the_reward(base_url: str):
    env = make(base_url, {"extra_info": {"task_id": 1}, "max_turns": 6}, max_steps=5)
    chat, metadata = await asyncio.to_thread(env.init, PROMPT)
    assert [m["role"] for m in chat] == ["system", "user", "user"]
    assert chat[1] == PROMPT[0] and "click(" in chat[0]["content"]
    page = chat[-1]["content"]
    assert "grand total of order #000000001" in page and "/admin/orders" in page
    assert metadata["info"]["task_id"] == 1 and metadata["group"] is None

    box = element(page, "searchbox", "Order number")
    decision = {"rationale": "I look the order up.", "action": f'type("{box}", "000000001", True)'}
    reply = "<think>The search box filters orders.</think>\n" + json.dumps(decision)
    out = await asyncio.to_thread(env.step, reply)
    assert not out["done"] and out["reward"] == 0.0
    assert out["metadata"]["action"] == f'type("{box}", "000000001", submit=True)'
    assert out["metadata"]["info"]["last_action_error"] == ""
    (searched,) = out["observations"]
    assert searched["role"] == "user" and "View order 000000001" in searched["content"]

    out = await asyncio.to_thread(env.step, "I am not sure what to do next.")
    assert not out["done"] and out["reward"] == 0.0 and out["metadata"]["action"] is None
    (told,) = out["observations"]
    assert "no action" in told["content"] and "click(" in told["content"]

    out = await asyncio.to_thread(env.step, 'The grand total is shown.\n`stop("$276.97")`')
    assert out["done"] and out["reward"] == 1.0 and out["observations"] == []
    assert out["metadata"]["info"]["evaluation"]["score"] == 1.0
    assert env.get_metrics() == {"steps": 2, "no_action_replies": 1, "reward": 1.0}

    env_id = env.env_id
    assert env_id is not None and await status_of(base_url, env_id) == 200
    await asyncio.to_thread(env.close)
    assert await status_of(base_url, env_id) in (404, 410)
    await asyncio.to_thread(env.close)  # a second close sends nothing


async def test_the_repetitions_of_a_prompt_share_one_group(base_url: str):
    def repetition(i: int) -> WebservTextEnv:
        extras = {"task_id": 3, "trajectory_id": {"instance_id": "prompt-7", "repetition_id": i}}
        return make(base_url, extras, group_size=3)

    envs = [repetition(i) for i in range(3)]
    started = await asyncio.gather(*(asyncio.to_thread(env.init, PROMPT) for env in envs))
    metadata = [meta for _, meta in started]
    assert len({meta["group"] for meta in metadata}) == 1 and metadata[0]["group"]
    assert len({meta["env_id"] for meta in metadata}) == 3
    assert {meta["info"]["task_id"] for meta in metadata} == {3}
    pages = [chat[-1]["content"] for chat, _ in started]
    urls = [meta["info"]["instance_url"] for meta in metadata]
    assert len(set(urls)) == 3  # three instances, one start state
    assert len({page.replace(url, "") for page, url in zip(pages, urls, strict=True)}) == 1

    await asyncio.gather(*(asyncio.to_thread(env.close) for env in envs))
    for meta in metadata:
        assert await status_of(base_url, meta["env_id"]) in (404, 410)


async def test_a_group_that_cannot_be_made_fails_every_repetition(base_url: str):
    extras = [{"site": "nosuch", "instance_id": "prompt-8"} for _ in range(3)]
    envs = [make(base_url, extra, group_size=3) for extra in extras]
    failures = await asyncio.gather(
        *(asyncio.to_thread(env.init, PROMPT) for env in envs), return_exceptions=True
    )
    for failure in failures:
        assert isinstance(failure, RemoteEnvError) and failure.status == 400
        assert "site" in failure.message
    # One repetition asked for the group; the two that waited for it got its error.
    shared = [f for f in failures if "group could not be created" in str(f)]
    assert len(shared) == 2
    for env in envs:
        env.close()  # nothing was created: only the connection is let go


def test_a_config_without_base_url_is_refused():
    with pytest.raises(ValueError, match="base_url"):
        skyrl_gym.make("webserv", env_config={"max_steps": 5}, extras={})
    with pytest.raises(ValueError, match="max_step"):
        WebservTextEnv({"base_url": "http://127.0.0.1:1", "max_step": 5}, {})
