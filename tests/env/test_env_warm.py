"""Warm starts: a reset takes the browser context prepared for its instance in standby, the
first observation is that of a cold start, nothing of one episode reaches the next, and a
preparation nobody takes is closed with its instance."""

from __future__ import annotations

import asyncio
import os

import pytest

from webserv.env.config import RuntimeConfig
from webserv.env.runtime import EnvRuntime
from webserv.env.session import EnvSession
from webserv.tasks.config import TaskConfig
from webserv.tasks.suite import Suite

pytestmark = pytest.mark.browser


def storefront_task(suite: Suite) -> TaskConfig:
    return next(
        t for t in suite.tasks if t.sites == ["shopping"] and t.start_urls == ["__SHOPPING__"]
    )


async def prepared(runtime: EnvRuntime) -> None:
    """Wait until every standby instance's start is prepared."""
    assert runtime.warmer is not None
    await runtime.providers["shop"].wait_standby(60)  # type: ignore[attr-defined]
    await asyncio.gather(*runtime.warmer._prepared.values(), return_exceptions=True)


def contexts(runtime: EnvRuntime) -> int:
    current = runtime.browsers._current
    return len(current.browser.contexts) if current is not None else 0


async def page_state(env: EnvSession) -> dict:
    assert env._browser is not None
    return await env._browser.page.evaluate(
        "() => ({cookie: document.cookie, stored: localStorage.length + sessionStorage.length,"
        " history: history.length})"
    )


async def test_warm_start_is_the_cold_start_ahead_of_time(
    suite: Suite, runtime: EnvRuntime, runtime_config: RuntimeConfig
):
    task = storefront_task(suite)
    await prepared(runtime)
    warm = EnvSession(runtime)
    try:
        obs, info = await warm.reset(task)
        assert info["warm_start"] and obs.settled and obs.last_action_error == ""
        assert obs.goal == task.intent and obs.url.startswith(info["instance_url"])
        state = await page_state(warm)
    finally:
        await warm.close()
    # Another owner: a runtime reconciling the same owner's instances would stop the other's.
    cold_config = runtime_config.model_copy(
        update={"warm_starts": False, "owner": f"cold{os.getpid()}"}
    )
    async with EnvRuntime(cold_config) as cold_runtime:
        cold = EnvSession(cold_runtime)
        try:
            cold_obs, cold_info = await cold.reset(task)
            assert not cold_info["warm_start"]
            assert state == await page_state(cold)
        finally:
            await cold.close()
    port = info["instance_url"].rsplit(":", 1)[1]
    cold_port = cold_info["instance_url"].rsplit(":", 1)[1]
    assert obs.text.replace(port, "PORT") == cold_obs.text.replace(cold_port, "PORT")
    assert obs.title == cold_obs.title


async def test_nothing_of_an_episode_reaches_the_next(suite: Suite, runtime: EnvRuntime):
    task = storefront_task(suite)
    env = EnvSession(runtime)
    try:
        await prepared(runtime)
        _, info = await env.reset(task)
        assert info["warm_start"]
        fresh = await page_state(env)
        assert env._browser is not None
        await env._browser.page.evaluate(
            "() => { document.cookie = 'episode=one; path=/'; localStorage.setItem('a', '1');"
            " sessionStorage.setItem('b', '2'); }"
        )
        await env.step('goto("/products/1")')
        await env.step('goto("/cart")')
        touched = await page_state(env)
        assert "episode=one" in touched["cookie"] and touched["history"] > fresh["history"]
        await prepared(runtime)
        _, again = await env.reset(task)
        assert again["warm_start"] and again["instance_url"] != info["instance_url"]
        assert await page_state(env) == fresh
    finally:
        await env.close()


async def test_a_group_starts_from_identically_prepared_browsers(suite: Suite, runtime: EnvRuntime):
    task = storefront_task(suite)
    envs = [EnvSession(runtime) for _ in range(2)]
    await prepared(runtime)
    sets = await runtime.acquire_sets(["shop"], 2)
    try:
        started = await asyncio.gather(*(e.reset(task, s) for e, s in zip(envs, sets, strict=True)))
        assert all(info["warm_start"] for _, info in started)
        texts = [
            obs.text.replace(info["instance_url"].rsplit(":", 1)[1], "PORT")
            for obs, info in started
        ]
        assert texts[0] == texts[1]
    finally:
        await asyncio.gather(*(e.close() for e in envs))


async def test_an_unused_preparation_goes_with_its_instance(suite: Suite, runtime: EnvRuntime):
    assert runtime.warmer is not None
    admin = next(t for t in suite.tasks if t.sites == ["shopping_admin"])
    env = EnvSession(runtime)
    try:
        await prepared(runtime)
        _, info = await env.reset(admin)  # another login than the one prepared: a cold start
        assert not info["warm_start"]
        await prepared(runtime)
        # The episode's context and one per standby instance; the unused one was closed.
        assert contexts(runtime) == 1 + len(runtime.warmer._prepared)
        # The envs began as admins: instances joining standby from now on are prepared that
        # way (the one in standby already was prepared for the storefront).
        _, info = await env.reset(admin)
        assert not info["warm_start"]
        await prepared(runtime)
        _, info = await env.reset(admin)
        assert info["warm_start"]
    finally:
        await env.close()
    await prepared(runtime)
    assert contexts(runtime) == len(runtime.warmer._prepared)
