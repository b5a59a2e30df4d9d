"""The HTTP API over real sockets: episodes, groups, errors, limits, TTL, auth, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import server_fixtures

from webserv.env.runtime import EnvRuntime
from webserv.server.config import ServerConfig
from webserv.tasks.suite import load_suite

pytestmark = pytest.mark.browser


def config(**values: object) -> ServerConfig:
    return ServerConfig(server_id=server_fixtures.TEST_OWNER, **values)


@pytest.fixture(scope="module")
async def api(server_runtime: EnvRuntime) -> AsyncIterator[httpx.AsyncClient]:
    """A server with the default limits."""
    async with server_fixtures.serving(config(), server_runtime) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            yield client


def answer_of(task_id: int) -> str:
    solution = load_suite("shop").task(task_id).reference_solution
    assert solution is not None
    return solution[-1]


async def leased(client: httpx.AsyncClient) -> int:
    (pool,) = (await client.get("/v1/pool")).json()["pools"]
    return pool["sites"]["shop"]["leased"]


async def until(condition, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll an async condition until it holds."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)  # poll interval


async def test_an_episode_over_http(api: httpx.AsyncClient):
    created = await api.post("/v1/envs", json={"task": 1, "options": {"max_steps": 5}})
    assert created.status_code == 201, created.text
    env = created.json()
    env_id, first_url = env["env_id"], env["info"]["instance_url"]
    assert env["observation"]["url"].endswith("/admin/orders") and env["info"]["task_id"] == 1
    path = f"/v1/envs/{env_id}"

    bad = await api.post(f"{path}/step", json={"action": 'click("999999")'})
    assert bad.status_code == 200 and bad.json()["observation"]["last_action_error"]
    assert bad.json()["reward"] == 0 and not bad.json()["terminated"]

    one, two = await asyncio.gather(
        api.post(f"{path}/step", json={"action": 'scroll("down")'}),
        api.post(f"{path}/step", json={"action": 'scroll("up")'}),
    )
    assert sorted([one.status_code, two.status_code]) == [200, 409]
    busy = one if one.status_code == 409 else two
    assert busy.json()["error"] == "env_busy"

    shot = await api.get(f"{path}/screenshot")
    assert shot.status_code == 200 and shot.content.startswith(b"\x89PNG")
    summary = (await api.get(path)).json()
    assert summary["steps"] == 2 and summary["episode_running"] and summary["task_id"] == 1

    done = await api.post(f"{path}/step", json={"action": answer_of(1)})
    assert done.json()["terminated"] and done.json()["reward"] == 1.0
    over = await api.post(f"{path}/step", json={"action": "back()"})
    assert over.status_code == 409 and over.json()["error"] == "episode_over"

    again = await api.post(f"{path}/reset", json={"task": 0})
    assert again.status_code == 200 and again.json()["info"]["task_id"] == 0
    assert again.json()["info"]["instance_url"] != first_url  # a fresh instance

    assert (await api.delete(path)).json() == {"closed": [env_id]}
    for call in (api.delete(path), api.post(f"{path}/step", json={"action": "back()"})):
        gone = await call
        assert gone.status_code == 410 and "closed by its client" in gone.json()["message"]
    missing = await api.post("/v1/envs/0123/step", json={"action": "back()"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_seeded_creation_picks_the_same_task(api: httpx.AsyncClient):
    picked = []
    for _ in range(2):
        env = (await api.post("/v1/envs", json={"seed": 7})).json()
        picked.append(env["info"]["task_id"])
        await api.delete(f"/v1/envs/{env['env_id']}")
    assert picked[0] == picked[1]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ("{not json", 400, "JSON"),
        ({"action": 5}, 400, "action"),
        ({}, 400, "action"),
        ({"action": "back()", "extra": 1}, 400, "extra"),
        ({"action": "x" * 5000}, 413, "more than 4096"),
        ({"action": f'type("3", "{"y" * 2500}")'}, 413, "type() would enter 2500"),
        ({"action": "z" * 70_000}, 413, "larger than 65536"),
    ],
)
async def test_bad_steps_are_refused_clearly(api: httpx.AsyncClient, body, status, needle):
    if isinstance(body, str):
        headers = {"content-type": "application/json"}
        response = await api.post("/v1/envs/abc/step", content=body, headers=headers)
    else:
        response = await api.post("/v1/envs/abc/step", json=body)
    assert response.status_code == status, response.text
    assert needle in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"task": "no-such-task"}, "no task"),
        ({"site": "gitlab"}, "body.site: Input should be 'shop'"),
        ({"options": {"max_steps": 5000}}, "body.options.max_steps: Input should be less than"),
        ({"options": {"max_steps": 0}}, "max_steps"),
        ({"seed": -1}, "seed"),
    ],
)
async def test_bad_creations_are_refused_clearly(api: httpx.AsyncClient, body, needle):
    response = await api.post("/v1/envs", json=body)
    assert response.status_code == 400 and needle in response.json()["message"]


async def test_groups_start_from_the_identical_state(api: httpx.AsyncClient):
    made = await api.post("/v1/groups", json={"n": 2, "seed": 3})
    assert made.status_code == 201, made.text
    group = made.json()
    envs = group["envs"]
    assert {e["group"] for e in envs} == {group["group"]}
    assert len({e["info"]["task_id"] for e in envs}) == 1
    assert len({e["info"]["instance_url"] for e in envs}) == 2
    texts = [e["observation"]["text"] for e in envs]
    urls = [e["info"]["instance_url"] for e in envs]
    assert texts[0].replace(urls[0], "") == texts[1].replace(urls[1], "")

    again = (await api.post(f"/v1/groups/{group['group']}/reset", json={"task": 4})).json()
    assert [e["info"]["task_id"] for e in again["envs"]] == [4, 4]
    closed = (await api.delete(f"/v1/groups/{group['group']}")).json()["closed"]
    assert sorted(closed) == sorted(e["env_id"] for e in envs)
    assert (await api.delete(f"/v1/groups/{group['group']}")).status_code == 404


async def test_backpressure_answers_429_and_503_with_retry_after(server_runtime: EnvRuntime):
    async with server_fixtures.serving(config(max_envs=1), server_runtime) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            env = (await client.post("/v1/envs", json={})).json()
            refused = await client.post("/v1/envs", json={})
            assert refused.status_code == 429 and refused.json()["error"] == "too_many_envs"
            assert int(refused.headers["retry-after"]) >= 1
            await client.delete(f"/v1/envs/{env['env_id']}")
    async with server_fixtures.serving(config(max_group=32), server_runtime) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            before = await leased(client)
            full = await client.post(
                "/v1/groups", json={"n": server_runtime.config.max_instances + 1}
            )
            assert full.status_code == 503 and full.json()["error"] == "pool_full"
            assert int(full.headers["retry-after"]) >= 1
            assert (
                await leased(client) == before and not (await client.get("/v1/pool")).json()["envs"]
            )
            too_big = await client.post("/v1/groups", json={"n": 33})
            assert too_big.status_code == 400 and too_big.json()["message"].startswith("body.n")


async def test_an_env_nobody_calls_ends_after_its_ttl(server_runtime: EnvRuntime):
    async with server_fixtures.serving(config(), server_runtime) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            env_id = (await client.post("/v1/envs", json={"options": {"ttl_s": 1}})).json()[
                "env_id"
            ]

            async def expired() -> bool:
                return (await client.get(f"/v1/envs/{env_id}")).status_code == 410

            await until(expired)
            gone = (await client.post(f"/v1/envs/{env_id}/step", json={"action": "back()"})).json()
            assert gone["error"] == "env_gone" and "expired" in gone["message"]

            async def released() -> bool:
                return await leased(client) == 0

            await until(released)
            metrics = (await client.get("/metrics")).text
            assert "webserv_envs_reaped_total 1.0" in metrics


async def test_a_token_is_required_when_set(server_runtime: EnvRuntime):
    async with server_fixtures.serving(config(token="s3cret"), server_runtime) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/openapi.json")).status_code == 200
            for headers in ({}, {"Authorization": "Bearer nope"}):
                for path in ("/v1/pool", "/metrics"):
                    refused = await client.get(path, headers=headers)
                    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
                    assert refused.headers["www-authenticate"] == "Bearer"
                # Refused before its body is read: an oversized body does not matter.
                refused = await client.post("/v1/envs", headers=headers, content=b"x" * 100_000)
                assert refused.status_code == 401
            ok = {"Authorization": "Bearer s3cret"}
            assert (await client.get("/v1/pool", headers=ok)).status_code == 200


async def test_pool_status_and_metrics(api: httpx.AsyncClient):
    pool = (await api.get("/v1/pool")).json()
    assert pool["server"] == server_fixtures.TEST_OWNER and pool["store"] == "memory"
    assert pool["sites"] == ["shop"]
    assert pool["pools"][0]["sites"]["shop"]["standby_target"] == 2
    assert [s["server"] for s in pool["servers"]] == [server_fixtures.TEST_OWNER]
    metrics = (await api.get("/metrics")).text
    assert 'webserv_pool_instances{site="shop",state="standby"}' in metrics
    assert "webserv_steps_total" in metrics and "webserv_http_request_seconds_bucket" in metrics
    health = (await api.get("/healthz")).json()
    assert health["status"] == "ok"
