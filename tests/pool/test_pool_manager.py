"""PoolManager: standby hand-over, recycling, isolation, health, reconcile, admission, leases."""

from __future__ import annotations

import os
import signal
import sqlite3

import httpx
import pool_fixtures
import psutil
import pytest
from pool_fixtures import until

from webserv.pool.backends.base import Instance
from webserv.pool.backends.process import ProcessBackend
from webserv.pool.manager import PoolFull, PoolManager, PoolSite, UnknownLease
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site
from webserv.sites.spec import SiteSpec


def _manager(backend: ProcessBackend, store: SnapshotStore, spec: SiteSpec, **kw) -> PoolManager:
    standby = kw.pop("standby", 1)
    options = {"health_interval_s": 0.2, "reaper_interval_s": 0.1, **kw}
    return PoolManager(backend, store, [PoolSite(spec, "shop", standby)], **options)


async def _admin_session(client: httpx.AsyncClient, url: str) -> str:
    """Sign in to the admin CMS of one instance (a write: a session row); return the cookie."""
    response = await pool_fixtures.admin_sign_in(client, url)
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";")[0]


async def _signed_in(client: httpx.AsyncClient, url: str, cookie: str) -> bool:
    response = await client.get(url + "/admin/dashboard", headers={"cookie": cookie})
    return response.status_code == 200


async def test_standby_handover_recycle_and_isolation(process_backend, copy_store, shop):
    async with _manager(process_backend, copy_store, shop, standby=2) as pool:
        await pool.wait_standby()
        ready = {instance.id for instance in pool._standby["shop"]}
        first = await pool.acquire("shop")
        assert first.instance.id in ready  # handed over, not launched
        second = await pool.acquire("shop")
        assert first.url != second.url
        async with httpx.AsyncClient() as client:
            cookie = await _admin_session(client, first.url)
            assert await _signed_in(client, first.url, cookie)
            assert not await _signed_in(client, second.url, cookie)
            golden = copy_store.golden_path("shop") / "shop.db"
            conn = sqlite3.connect(f"file:{golden}?mode=ro", uri=True)
            assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
            conn.close()

            old_id = first.instance.id
            await pool.release(first.id)
            with pytest.raises(UnknownLease):
                await pool.release(first.id)
            await pool.drain()
            assert old_id not in copy_store.clones()  # its clone is gone with it
            await pool.wait_standby()
            third = await pool.acquire("shop")
            assert third.instance.id != old_id
            assert not await _signed_in(client, third.url, cookie)  # fresh state
        assert pool.counters["recycled"] == 1
        status = pool.status()
        assert status.sites["shop"].leased == 2
        assert {i.state for i in status.instances} == {"standby", "leased"}
    assert copy_store.clones() == []


async def test_group_has_identical_start_state_or_nothing(process_backend, copy_store, shop):
    async with _manager(process_backend, copy_store, shop, standby=1, max_instances=4) as pool:
        await pool.wait_standby()
        group = await pool.acquire_group("shop", 3)
        assert len({lease.group for lease in group}) == 1
        assert len({lease.url for lease in group}) == 3
        digests = set()
        for lease in group:
            conn = sqlite3.connect(lease.instance.data_dir / "shop.db")
            digests.add(conn.execute("SELECT count(*), sum(price_cents) FROM products").fetchone())
            conn.close()
        assert len(digests) == 1
        with pytest.raises(PoolFull, match="max_instances=4"):
            await pool.acquire_group("shop", 3)
        assert pool.status().sites["shop"].leased == 3  # nothing half-handed-out


async def test_pool_full_is_a_clear_error(process_backend, copy_store, shop):
    async with _manager(process_backend, copy_store, shop, standby=1, max_instances=2) as pool:
        await pool.wait_standby()
        await pool.acquire("shop")
        await pool.acquire("shop")
        with pytest.raises(PoolFull, match="pool full: 2 instances") as full:
            await pool.acquire("shop")
        assert full.value.retry_after_s > 0
    huge = psutil.virtual_memory().total * 2
    async with _manager(
        process_backend, copy_store, shop, standby=0, min_free_memory_bytes=huge
    ) as pool:
        with pytest.raises(PoolFull, match="MiB of memory available"):
            await pool.acquire("shop")


async def _standby(pool: PoolManager) -> list[Instance]:
    running = {i.id: i for i in await pool.backend.owned(pool.owner)}
    return [running[i.id] for i in pool.status().instances if i.state == "standby"]


async def test_killed_instances_are_replaced(process_backend, copy_store, shop):
    async with _manager(process_backend, copy_store, shop, standby=1) as pool:
        await pool.wait_standby()
        [standby] = await _standby(pool)
        os.killpg(int(standby.handle), signal.SIGKILL)
        await until(lambda: pool.counters["replaced"] >= 1)
        await pool.wait_standby()
        assert [i.id for i in await _standby(pool)] != [standby.id]

        lease = await pool.acquire("shop")
        os.killpg(int(lease.instance.handle), signal.SIGKILL)
        await until(lambda: pool.counters["replaced"] >= 2)
        async with httpx.AsyncClient() as client:
            response = await client.get(lease.url + "/healthz")
        assert response.status_code == 200  # same lease, same URL, serving again


async def test_restarted_manager_adopts_pristine_standby_and_destroys_the_rest(
    copy_store, shop, tmp_path
):
    owner = "pooltest-restart"
    backend_state = tmp_path / "backend"
    crashed = await pool_fixtures.crashed_manager(
        {
            "backend": "process",
            "owner": owner,
            "backend_state": str(backend_state),
            "root": str(copy_store.root),
            "driver": "copy",
            "standby": 2,
            "state_dir": str(tmp_path / "pool"),
        }
    )
    backend = ProcessBackend(
        owner=owner, state_dir=backend_state, preload={"shop": list(get_site("shop").preload)}
    )
    left = {i.id: i for i in await backend.owned(owner)}
    assert {crashed["leased"], *crashed["standby"]} <= set(left)  # a refill may be mid-way
    try:
        async with _manager(
            backend, copy_store, shop, standby=2, state_dir=tmp_path / "pool"
        ) as pool:
            assert pool.counters["adopted"] == 2
            assert pool.counters["launched"] == 0
            dirty = left[crashed["leased"]]
            assert not await backend.alive(dirty)  # leased before the restart: destroyed
            assert dirty.id not in copy_store.clones()
            assert set(copy_store.clones()) == set(crashed["standby"])
            leases = [await pool.acquire("shop"), await pool.acquire("shop")]
            assert {lease.instance.id for lease in leases} == set(crashed["standby"])
            for lease in leases:
                assert pool_fixtures.sessions(lease.instance.data_dir) == 0  # pristine
        assert await backend.owned(owner) == []
        assert copy_store.clones() == []
        assert pool.marks.ids() == []
    finally:
        for leftover in await backend.owned(owner):
            await backend.stop(leftover)
        await backend.close()


async def test_expired_leases_are_reaped(process_backend, copy_store, shop):
    async with _manager(process_backend, copy_store, shop, standby=1) as pool:
        await pool.wait_standby()
        lease = await pool.acquire("shop", ttl_s=0.3)
        kept = await pool.acquire("shop", ttl_s=0.3)
        pool.renew(kept.id, ttl_s=60)
        await until(lambda: pool.counters["reaped"] == 1)
        with pytest.raises(UnknownLease):
            pool.lease(lease.id)
        assert pool.lease(kept.id) is kept
        await pool.drain()
        assert not await process_backend.alive(lease.instance)
