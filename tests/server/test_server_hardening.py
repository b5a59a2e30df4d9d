"""The server's edges: the token check, a Redis outage, env ids across a restart, and a
request schema that says what the server enforces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import server_fixtures

from webserv.env.runtime import EnvRuntime
from webserv.server.config import ServerConfig

pytestmark = pytest.mark.browser


def config(**values: Any) -> ServerConfig:
    return ServerConfig(**{"server_id": server_fixtures.TEST_OWNER, **values})


@asynccontextmanager
async def client_of(server: ServerConfig, runtime: EnvRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with server_fixtures.serving(server, runtime) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            yield client


@pytest.fixture(scope="module")
async def api(server_runtime: EnvRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(config(), server_runtime) as client:
        yield client


def leased(runtime: EnvRuntime) -> int:
    (pool,) = runtime.status()
    return pool.sites["shop"].leased


# -- the token ---------------------------------------------------------------------------


async def test_the_bearer_scheme_is_case_insensitive_and_one_header_counts(
    server_runtime: EnvRuntime,
):
    async with client_of(config(token=" s3cret "), server_runtime) as client:
        for given in ("Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer  s3cret"):
            answer = await client.get("/v1/pool", headers={"Authorization": given})
            assert answer.status_code == 200, given
        for given in ("Basic s3cret", "Bearers3cret", "Bearer", "Bearer s3cret2", "s3cret"):
            answer = await client.get("/v1/pool", headers={"Authorization": given})
            assert answer.status_code == 401, given
        for pair in (["Bearer nope", "Bearer s3cret"], ["Bearer s3cret", "Bearer s3cret"]):
            headers = [("Authorization", value) for value in pair]
            answer = await client.get("/v1/pool", headers=headers)
            assert answer.status_code == 401 and "one Authorization" in answer.json()["message"]
        # Open by design: the spec, the page that renders it, and liveness.
        for path in ("/openapi.json", "/docs", "/redoc", "/healthz"):
            assert (await client.get(path)).status_code == 200, path


# -- a Redis outage ----------------------------------------------------------------------


def unavailable(answer: httpx.Response) -> bool:
    return (
        answer.status_code == 503
        and answer.json()["error"] == "store_unavailable"
        and int(answer.headers["retry-after"]) >= 1
    )


@pytest.mark.redis
async def test_a_redis_outage_answers_503_and_the_server_recovers_by_itself(
    server_runtime: EnvRuntime, flaky_redis: server_fixtures.RedisProcess
):
    async with client_of(config(redis_url=flaky_redis.url), server_runtime) as client:
        kept = (await client.post("/v1/envs", json={"task": 1})).json()["env_id"]
        closed = (await client.post("/v1/envs", json={"task": 1})).json()["env_id"]
        before = leased(server_runtime)
        flaky_redis.stop()

        calls = {
            "step": client.post(f"/v1/envs/{kept}/step", json={"action": 'scroll("down")'}),
            "reset": client.post(f"/v1/envs/{kept}/reset", json={"task": 0}),
            "create": client.post("/v1/envs", json={"task": 1}),
            "group": client.post("/v1/groups", json={"n": 2, "task": 1}),
            "pool": client.get("/v1/pool"),
        }
        for name, call in calls.items():
            answer = await call
            assert unavailable(answer), f"{name}: {answer.status_code} {answer.text}"
        # Nothing was done: no step counted, no instance kept.
        assert leased(server_runtime) == before
        # A close still ends the env here (its instance goes back to the pool).
        assert (await client.delete(f"/v1/envs/{closed}")).json() == {"closed": [closed]}
        assert leased(server_runtime) == before - 1

        flaky_redis.start()  # back, and empty
        step = await client.post(f"/v1/envs/{kept}/step", json={"action": 'scroll("down")'})
        assert step.status_code == 200, step.text
        summary = (await client.get(f"/v1/envs/{kept}")).json()
        assert summary["steps"] == 1 and summary["task_id"] == 1
        assert (await client.get("/v1/pool")).status_code == 200
        assert (await client.get(f"/v1/envs/{closed}")).status_code == 404
        await client.delete(f"/v1/envs/{kept}")


@pytest.mark.redis
async def test_a_create_that_fails_in_an_outage_leaves_nothing_behind(
    server_runtime: EnvRuntime, flaky_redis: server_fixtures.RedisProcess
):
    server = config(redis_url=flaky_redis.url, max_envs=2)
    async with client_of(server, server_runtime) as client:
        before = leased(server_runtime)
        flaky_redis.stop()
        assert unavailable(await client.post("/v1/envs", json={"task": 1}))
        assert unavailable(await client.post("/v1/groups", json={"n": 2, "task": 1}))
        flaky_redis.start()

        pool = (await client.get("/v1/pool")).json()
        assert pool["envs"] == [] and leased(server_runtime) == before
        # Both places under max_envs are free.
        made = await client.post("/v1/groups", json={"n": 2, "task": 1})
        assert made.status_code == 201, made.text
        await client.delete(f"/v1/groups/{made.json()['group']}")


# -- env ids across a restart ------------------------------------------------------------


async def test_an_env_from_before_a_restart_answers_410_on_the_memory_store(
    server_runtime: EnvRuntime,
):
    async with client_of(config(), server_runtime) as client:
        ours = (await client.post("/v1/envs", json={"task": 1})).json()["env_id"]
    async with client_of(config(server_id="elsewhere"), server_runtime) as client:
        theirs = (await client.post("/v1/envs", json={"task": 1})).json()["env_id"]

    async with client_of(config(), server_runtime) as client:
        for call in (
            client.post(f"/v1/envs/{ours}/step", json={"action": "back()"}),
            client.get(f"/v1/envs/{ours}"),
            client.delete(f"/v1/envs/{ours}"),
        ):
            gone = await call
            assert gone.status_code == 410, gone.text
            assert "restarted" in gone.json()["message"]
        for other in (theirs, "0123", ours[:-1] + "x"):
            unknown = await client.get(f"/v1/envs/{other}")
            assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


# -- the request schema ------------------------------------------------------------------


async def test_the_schema_states_the_limits_the_server_enforces(server_runtime: EnvRuntime):
    async with client_of(config(max_group=3, max_steps_limit=50), server_runtime) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
        n = schemas["GroupRequest"]["properties"]["n"]
        assert (n["minimum"], n["maximum"]) == (1, 3)
        options = schemas["EnvOptions"]["properties"]
        assert options["max_steps"]["maximum"] == 50
        (ttl, _) = options["ttl_s"]["anyOf"]
        assert (ttl["minimum"], ttl["maximum"]) == (1, 86_400)
        assert options["screenshot"]["type"] == "boolean"

        refused = {
            "/v1/groups": [({"n": 4}, "body.n")],
            "/v1/envs": [
                ({"options": {"ttl_s": 5e-324}}, "body.options.ttl_s"),
                ({"options": {"ttl_s": 0.5}}, "body.options.ttl_s"),
                ({"options": {"max_steps": 51}}, "body.options.max_steps"),
                ({"options": {"screenshot": "yes"}}, "body.options.screenshot"),
                ({"options": {"screenshot": 1}}, "body.options.screenshot"),
                ({"options": {"max_steps": "5"}}, "body.options.max_steps"),
                ({"seed": "7"}, "body.seed"),
            ],
        }
        for path, bodies in refused.items():
            for body, where in bodies:
                answer = await client.post(path, json=body)
                assert answer.status_code == 400, (body, answer.text)
                assert answer.json()["message"].startswith(where), answer.text
        assert not (await client.get("/v1/pool")).json()["envs"]


async def test_a_malformed_request_is_a_400_even_when_the_server_is_full(
    server_runtime: EnvRuntime,
):
    async with client_of(config(max_envs=1), server_runtime) as client:
        env_id = (await client.post("/v1/envs", json={"task": 1})).json()["env_id"]
        for path, body in (
            ("/v1/envs", {"task": "no-such-task"}),
            ("/v1/envs", {"options": {"max_steps": 5000}}),
            ("/v1/envs", {"suite": "no-such-suite"}),
            ("/v1/groups", {"n": 1, "task": "no-such-task"}),
        ):
            answer = await client.post(path, json=body)
            assert answer.status_code == 400, (body, answer.text)
        full = await client.post("/v1/envs", json={"task": 1})
        assert full.status_code == 429
        await client.delete(f"/v1/envs/{env_id}")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/envs/abc", "DELETE, GET, OPTIONS"),
        ("/v1/envs", "OPTIONS, POST"),
        ("/v1/envs/abc/step", "OPTIONS, POST"),
        ("/v1/groups/g", "DELETE, OPTIONS"),
        ("/healthz", "GET, OPTIONS"),
    ],
)
async def test_options_and_405_list_every_allowed_method(
    api: httpx.AsyncClient, path: str, allowed: str
):
    options = await api.options(path)
    assert options.status_code == 204 and options.headers["allow"] == allowed
    refused = await api.put(path)
    assert refused.status_code == 405 and refused.json()["error"] == "method_not_allowed"
    assert refused.headers["allow"] == allowed


async def test_options_on_an_unknown_path_is_a_404(api: httpx.AsyncClient):
    assert (await api.options("/v1/nowhere")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b'{"task": "\xff"}',
        b'{"task": "\xed\xa0\x80"}',
        b"\xff\xfe{\x00}\x00",
        b'{"task": "\\ud800"}',
        b'{"task": "\\udc00\\ud800"}',
    ],
    ids=["invalid-byte", "encoded-surrogate", "utf-16", "escaped-surrogate", "reversed-pair"],
)
async def test_a_body_that_is_not_utf8_is_a_bad_request(api: httpx.AsyncClient, body: bytes):
    for path in ("/v1/envs", "/v1/envs/abc/step"):
        answer = await api.post(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"] == "bad_request", answer.text
        assert "UTF-8" in answer.json()["message"]


async def test_a_lone_surrogate_never_reaches_an_env(api: httpx.AsyncClient):
    env_id = (await api.post("/v1/envs", json={"task": 1})).json()["env_id"]
    json_type = {"content-type": "application/json"}
    for action in (b'"\\ud800"', b'"type(\\"1\\", \\"\\ud800\\")"'):
        body = b'{"action": ' + action + b"}"
        answer = await api.post(f"/v1/envs/{env_id}/step", content=body, headers=json_type)
        assert answer.status_code == 400 and answer.json()["error"] == "bad_request", answer.text
    # Escaped text that is Unicode (a surrogate pair, an escaped backslash) is welcome.
    for action in (b'"type(\\"1\\", \\"\\ud83d\\ude00\\")"', b'"type(\\"1\\", \\"\\\\ud800\\")"'):
        body = b'{"action": ' + action + b"}"
        answer = await api.post(f"/v1/envs/{env_id}/step", content=body, headers=json_type)
        assert answer.status_code == 200, answer.text
    await api.delete(f"/v1/envs/{env_id}")
