"""The lease store contract, in memory and in a real Redis; the server's config rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import server_fixtures
from pydantic import ValidationError
from typer.testing import CliRunner

from webserv.cli import app as cli
from webserv.server.config import ServerConfig, is_loopback
from webserv.server.store import (
    EnvRecord,
    LeaseStore,
    MemoryStore,
    RedisStore,
    ServerRecord,
    StoreUnavailable,
)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LeaseStore]:
    if request.param == "memory":
        made: LeaseStore = MemoryStore()
    else:
        made = RedisStore(request.getfixturevalue("redis_url"), prefix=f"t{time.time_ns()}:")
    try:
        yield made
    finally:
        await made.close()


async def until_missing(store: LeaseStore, env_id: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await store.get(env_id) is not None:
        assert time.monotonic() < deadline, f"{env_id} did not expire"
        await asyncio.sleep(0.02)  # poll interval


async def test_records_live_while_touched_and_expire_after_their_ttl(store: LeaseStore):
    record = EnvRecord(env_id="e1", server="s1", client="c", ttl_s=60, lease="l1")
    await store.put(record, ttl_s=0.3)
    assert await store.get("e1") == record
    assert [r.env_id for r in await store.owned("s1")] == ["e1"] and not await store.owned("s2")
    assert await store.touch("e1", ttl_s=60)
    assert await store.get("e1") == record
    assert await store.touch("e1", ttl_s=0.2)
    await until_missing(store, "e1")
    assert not await store.touch("e1", ttl_s=60)
    assert await store.owned("s1") == [] and await store.gone("e1") is None


async def test_deleting_with_a_reason_leaves_a_tombstone(store: LeaseStore):
    for env_id in ("e2", "e3"):
        await store.put(EnvRecord(env_id=env_id, server="s1", client="c", ttl_s=60), ttl_s=60)
    await store.delete(
        EnvRecord(env_id="e2", server="s1", client="c", ttl_s=60), reason="server restarted"
    )
    await store.delete(EnvRecord(env_id="e3", server="s1", client="c", ttl_s=60))
    assert await store.get("e2") is None and await store.get("e3") is None
    assert await store.gone("e2") == "server restarted" and await store.gone("e3") is None
    assert await store.owned("s1") == []


async def test_servers_are_registered_while_they_beat(store: LeaseStore):
    record = ServerRecord(server="s9", url="http://127.0.0.1:1", pid=1, started_at=0.0, envs=2)
    await store.heartbeat(record, ttl_s=0.3)
    assert await store.servers() == [record]
    deadline = time.monotonic() + 5
    while await store.servers():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)  # poll interval


@pytest.mark.redis
async def test_a_server_that_unregisters_leaves_nothing_in_the_registry(store: LeaseStore):
    stays = ServerRecord(server="s7", url="http://127.0.0.1:1", pid=1, started_at=0.0)
    leaves = stays.model_copy(update={"server": "s8"})
    for record in (stays, leaves):
        await store.heartbeat(record, ttl_s=60)
    await store.unregister("s8")
    assert await store.servers() == [stays]
    await store.unregister("s7")
    assert await store.servers() == []
    if isinstance(store, RedisStore):  # not even the set of server ids
        assert await store._redis.keys(store.prefix + "*") == []


async def test_an_unreachable_redis_is_reported_and_used_again_when_back(
    flaky_redis: server_fixtures.RedisProcess,
):
    store = RedisStore(flaky_redis.url)
    record = EnvRecord(env_id="e4", server="s1", client="c", ttl_s=60)
    beat = ServerRecord(server="s1", url="http://127.0.0.1:1", pid=1, started_at=0.0)
    try:
        await store.put(record, ttl_s=60)
        flaky_redis.stop()
        for call in (
            store.ping(),
            store.put(record, ttl_s=60),
            store.touch("e4", ttl_s=60),
            store.get("e4"),
            store.delete(record, reason="closed"),
            store.gone("e4"),
            store.owned("s1"),
            store.heartbeat(beat, ttl_s=60),
            store.servers(),
        ):
            with pytest.raises(StoreUnavailable, match="unreachable"):
                await call
        flaky_redis.start()  # empty: it kept nothing
        assert not await store.touch("e4", ttl_s=60)
        await store.put(record, ttl_s=60)
        assert await store.get("e4") == record
    finally:
        await store.close()


def test_binding_beyond_loopback_needs_a_token():
    with pytest.raises(ValidationError, match="set a token"):
        ServerConfig(host="0.0.0.0")
    assert ServerConfig(host="0.0.0.0", token="t").token == "t"
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example.org"))
    with pytest.raises(ValidationError, match="server_id"):
        ServerConfig(server_id="../evil")


def test_the_token_is_taken_as_a_header_can_carry_it():
    assert ServerConfig(token=" s3cret \n").token == "s3cret"
    for unsendable in ("  ", "s3 cret", "sécret", "s3\tcret"):
        with pytest.raises(ValidationError, match="token"):
            ServerConfig(token=unsendable)
    refused = CliRunner().invoke(cli, ["serve", "--token", " "])
    assert refused.exit_code == 2 and "token" in refused.output
