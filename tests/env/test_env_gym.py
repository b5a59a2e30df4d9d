"""The Gymnasium face: registration, gymnasium.make, check_env, a sync episode."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import webserv.env
from webserv.env.runtime import RuntimeConfig
from webserv.tasks.suite import load_suite

pytestmark = pytest.mark.browser


def order_total_task() -> tuple[int | str, str]:
    task = next(t for t in load_suite("shop").tasks if t.intent_template_id == 1)
    assert task.reference_solution is not None
    return task.task_id, task.reference_solution[-1]


def test_make_check_env_and_one_episode(runtime_config: RuntimeConfig):
    task_id, stop = order_total_task()
    env = gymnasium.make(
        "webserv/Shop-v0",
        max_steps=5,
        task_ids=[task_id],
        runtime_config=runtime_config.model_dump(),
        render_mode="ansi",
    )
    try:
        check_env(env.unwrapped)
        obs, info = env.reset(seed=1, options={"task_id": task_id})
        assert obs in env.observation_space
        assert obs["url"].endswith("/admin/orders") and info["task_id"] == task_id
        assert info["settled"] is True
        assert obs["token_count"].dtype == np.int64 and obs["token_count"] > 0
        assert env.render() == obs["text"]
        obs, reward, terminated, truncated, info = env.step('click("999999")')
        assert obs["last_action_error"] and reward == 0.0 and not (terminated or truncated)
        assert info["target"] is None  # the page shows no element of that id
        obs, reward, terminated, truncated, info = env.step(stop)
        assert terminated and not truncated and reward == 1.0
        assert info["evaluation"]["score"] == 1.0 and info["timings"]["step_ms"] > 0
        assert info["settled"] is True
    finally:
        env.close()
    env.close()  # closing twice is allowed


def test_seeded_reset_picks_the_same_task(runtime_config: RuntimeConfig):
    env = webserv.env.WebEnv(max_steps=2, runtime_config=runtime_config)
    try:
        picked = [env.reset(seed=seed)[1]["task_id"] for seed in (3, 3, 4)]
        assert picked[0] == picked[1]
    finally:
        env.close()


def test_bad_construction_is_refused(runtime_config: RuntimeConfig):
    other_data = runtime_config.sites[0].model_copy(update={"golden": {"seed": 1}})
    with pytest.raises(ValueError, match="was made for shop data"):
        webserv.env.WebEnv(runtime_config=runtime_config.model_copy(update={"sites": [other_data]}))
    with pytest.raises(KeyError, match="no task"):
        webserv.env.WebEnv(task_ids=["nope"], runtime_config=runtime_config)
    with pytest.raises(ValueError, match="render_mode"):
        webserv.env.WebEnv(render_mode="human", runtime_config=runtime_config)
