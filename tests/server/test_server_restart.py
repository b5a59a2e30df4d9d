"""A server killed with SIGKILL and started again leaks nothing; a vanished trainer's env ends
after its TTL. Real ``webserv serve`` processes over a real Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis
import server_fixtures

from webserv.pool.backends.process import ProcessBackend

pytestmark = [pytest.mark.redis, pytest.mark.browser]


def live_instances(home: Path, owner: str) -> set[str]:
    """Ids of the site instances labelled with ``owner`` whose process still runs."""
    backend = ProcessBackend(owner=owner, state_dir=home / "pool" / "process")
    return {instance.id for instance in asyncio.run(backend.owned(owner))}


def survivors(tree: list[psutil.Process], home: Path, owner: str) -> list[str]:
    """Command lines of the processes in ``tree`` still running, bar adopted instances."""
    backend = ProcessBackend(owner=owner, state_dir=home / "pool" / "process")
    adopted = {int(i.handle) for i in asyncio.run(backend.owned(owner))}
    alive = []
    for proc in tree:
        try:
            if proc.pid not in adopted and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(proc.cmdline())[:120])
        except psutil.NoSuchProcess:
            continue
    return alive


def until(condition, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)  # poll interval


def test_a_killed_server_leaks_nothing_after_a_restart(
    tmp_path: Path, shop_golden: Path, redis_url: str
):
    server = server_fixtures.server_process(tmp_path, shop_golden, "--redis", redis_url)
    owner = server.server_id
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=120) as api:
            env = api.post("/v1/envs", json={"task": 1}).json()
            api.post(f"/v1/envs/{env['env_id']}/step", json={"action": 'scroll("down")'})
            group = api.post("/v1/groups", json={"n": 2}).json()
            env_ids = [env["env_id"], *(e["env_id"] for e in group["envs"])]
            assert store.scard(f"webserv:server:{owner}:envs") == 3
            old_instances = live_instances(tmp_path, owner)
            instances = api.get("/v1/pool").json()["pools"][0]["instances"]
            leased = {i["id"] for i in instances if i["state"] == "leased"}
            assert len(leased) == 3 and leased <= old_instances
            assert server.proc is not None
            old_tree = psutil.Process(server.proc.pid).children(recursive=True)

            server.kill()
            assert live_instances(tmp_path, owner) >= old_instances  # they outlive the server
            server.start()

            for env_id in env_ids:
                gone = api.post(f"/v1/envs/{env_id}/step", json={"action": "back()"})
                assert gone.status_code == 410, gone.text
                assert "restarted" in gone.json()["message"]
            assert store.scard(f"webserv:server:{owner}:envs") == 0
            assert not store.keys("webserv:env:*")
            # The leased instances are destroyed; a pristine standby one may be adopted.
            assert not live_instances(tmp_path, owner) & leased
            until(lambda: not survivors(old_tree, tmp_path, owner))

            def all_known() -> bool:
                (pool,) = api.get("/v1/pool").json()["pools"]
                known = {i["id"] for i in pool["instances"]}
                live = live_instances(tmp_path, owner)
                return pool["sites"]["shop"]["launching"] == 0 and live <= known

            until(all_known)
            servers = api.get("/v1/pool").json()["servers"]
            assert [s["server"] for s in servers] == [owner]
    finally:
        server.stop()
        store.close()
    assert not live_instances(tmp_path, owner)  # a clean stop leaves nothing running


def test_a_vanished_trainer_loses_its_env_after_the_ttl(
    tmp_path: Path, shop_golden: Path, redis_url: str
):
    server = server_fixtures.server_process(tmp_path, shop_golden, "--redis", redis_url)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=120) as api:
            env_id = api.post("/v1/envs", json={"options": {"ttl_s": 1}}).json()["env_id"]
            assert store.exists(f"webserv:env:{env_id}")
            until(lambda: api.get(f"/v1/envs/{env_id}").status_code == 410)
            assert "expired" in api.get(f"/v1/envs/{env_id}").json()["message"]
            assert not store.exists(f"webserv:env:{env_id}")
            until(lambda: api.get("/v1/pool").json()["pools"][0]["sites"]["shop"]["leased"] == 0)
    finally:
        server.stop()
        store.close()
