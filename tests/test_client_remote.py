"""RemoteWebEnv: retries only where they cannot act twice, a real server, AsyncVectorEnv."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import gymnasium
import httpx
import numpy as np
import pytest
import server_fixtures
from gymnasium.utils.env_checker import check_env

from webserv.client import REMOTE_ENV_ID, RemoteEnvError, RemoteWebEnv
from webserv.pool.backends.base import free_port
from webserv.tasks.suite import load_suite

WIRE_OBS = {
    "url": "http://127.0.0.1:1/",
    "title": "Home",
    "tabs": [{"index": 0, "url": "http://127.0.0.1:1/", "title": "Home", "active": True}],
    "text": '[1] link "Cart"',
    "token_count": 5,
    "settle_ms": 12.5,
    "settled": True,
    "truncated": False,
}


def fake(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[RemoteWebEnv, list[str]]:
    """A RemoteWebEnv whose HTTP goes to ``handler``; the list records each request."""
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return handler(request)

    env = RemoteWebEnv("http://server", retry_for_s=5, transport=httpx.MockTransport(record))
    return env, seen


FULL = {"error": "pool_full", "message": "full"}


def created(env_id: str = "e1") -> httpx.Response:
    return httpx.Response(201, json={"env_id": env_id, "observation": WIRE_OBS, "info": {}})


def test_refused_creation_is_retried_after_retry_after():
    answers = iter(
        [
            httpx.Response(
                503, json={"error": "pool_full", "message": "full"}, headers={"Retry-After": "0"}
            ),
            created(),
        ]
    )
    env, seen = fake(lambda request: next(answers))
    obs, _ = env.reset()
    assert seen == ["POST /v1/envs", "POST /v1/envs"] and env.env_id == "e1"
    assert obs in env.observation_space and obs["token_count"] == 5


def test_a_step_whose_answer_was_lost_is_not_sent_again():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/envs":
            return created()
        raise httpx.ReadTimeout("lost", request=request)

    env, seen = fake(handler)
    env.reset()
    with pytest.raises(httpx.ReadTimeout):
        env.step("back()")
    assert seen == ["POST /v1/envs", "POST /v1/envs/e1/step"]


def test_idempotent_calls_are_retried_after_a_read_error():
    failures = iter([True, False])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/envs":
            return created()
        if next(failures):
            raise httpx.ReadError("reset by peer", request=request)
        return httpx.Response(200, json={"closed": ["e1"]})

    env, seen = fake(handler)
    env.reset()
    env.close()
    assert seen == ["POST /v1/envs", "DELETE /v1/envs/e1", "DELETE /v1/envs/e1"]


def test_a_gone_env_is_an_error_for_step_and_replaced_at_reset():
    gone = {"error": "env_gone", "message": "env e1 expired"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/envs":
            return created("e2")
        return httpx.Response(410, json=gone)

    env, seen = fake(handler)
    env.env_id = "e1"
    with pytest.raises(RemoteEnvError) as err:
        env.step("back()")
    assert err.value.status == 410 and err.value.code == "env_gone" and "expired" in str(err.value)
    env.reset()
    assert env.env_id == "e2"
    assert seen == ["POST /v1/envs/e1/step", "POST /v1/envs/e1/reset", "POST /v1/envs"]
    env.close()  # closing an env the server already ended is fine


def test_importing_the_client_loads_neither_the_browser_nor_the_pool():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, webserv.client; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = [m for m in loaded if m.startswith(("playwright", "webserv.pool", "fastapi"))]
    assert "webserv.client" in loaded and heavy == []


def test_an_unreachable_server_is_reported_after_the_retry_window():
    env = RemoteWebEnv(f"http://127.0.0.1:{free_port()}", retry_for_s=0.5)
    with pytest.raises(RemoteEnvError, match="unreachable"):
        env.reset()
    env.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shop_golden: Path) -> Iterator[str]:
    home = tmp_path_factory.mktemp("client-server")
    proc = server_fixtures.server_process(home, shop_golden, "--standby", "2").start()
    try:
        yield proc.url
    finally:
        proc.stop()


@pytest.mark.browser
def test_remote_env_passes_the_checker_and_runs_an_episode(server: str):
    task = next(t for t in load_suite("shop").tasks if t.intent_template_id == 1)
    assert task.reference_solution is not None
    env = gymnasium.make(
        REMOTE_ENV_ID, base_url=server, task=task.task_id, max_steps=5, render_mode="ansi"
    )
    try:
        check_env(env.unwrapped)
        obs, info = env.reset(seed=1)
        assert obs in env.observation_space and info["task_id"] == task.task_id
        assert env.render() == obs["text"]
        obs, reward, terminated, _, info = env.step(task.reference_solution[-1])
        assert terminated and reward == 1.0 and info["evaluation"]["score"] == 1.0
        with pytest.raises(RemoteEnvError) as over:
            env.step("back()")
        assert over.value.code == "episode_over"
    finally:
        env.close()
    assert httpx.get(f"{server}/v1/pool").json()["envs"] == []


@pytest.mark.browser
def test_remote_envs_work_inside_async_vector_env(server: str):
    vector = gymnasium.vector.AsyncVectorEnv(
        [lambda: RemoteWebEnv(server, max_steps=3) for _ in range(2)], shared_memory=False
    )
    try:
        obs, infos = vector.reset(seed=5)
        assert len(infos["task_id"]) == 2
        assert len(obs["text"]) == 2 and all(obs["text"])
        assert obs["token_count"].shape == (2,)
        obs, rewards, terminated, _, _ = vector.step(np.array(['scroll("down")'] * 2))
        assert list(obs["last_action"]) == ['scroll("down")'] * 2
        assert rewards.shape == (2,) and not terminated.any()
        assert len(httpx.get(f"{server}/v1/pool").json()["envs"]) == 2
    finally:
        vector.close()
    assert httpx.get(f"{server}/v1/pool").json()["envs"] == []
