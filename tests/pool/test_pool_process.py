"""The process backend: launch through the zygote and cold, labels, stop, leftovers."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
from pathlib import Path

import httpx
import pool_fixtures
import pytest

from webserv import ksm
from webserv.pool.backends.base import INSTANCE_LABEL, OWNER_LABEL, SITE_LABEL, free_port
from webserv.pool.backends.process import LaunchError, ProcessBackend
from webserv.pool.health import NotReady, wait_healthy
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site
from webserv.sites.spec import SiteSpec


async def _launch(backend: ProcessBackend, spec: SiteSpec, store: SnapshotStore, name: str):
    data_dir = store.clone("shop", name)
    instance = await backend.start(spec, name, data_dir, free_port())
    async with httpx.AsyncClient() as client:

        async def alive() -> bool:
            return await backend.alive(instance)

        await wait_healthy(client, instance.url + spec.health_path, 30, alive)
    return instance


async def test_zygote_launch_serves_its_clone_and_stops(
    process_backend: ProcessBackend, shop: SiteSpec, copy_store: SnapshotStore
):
    instance = await _launch(process_backend, shop, copy_store, "z1")
    assert instance.labels[OWNER_LABEL] == process_backend.owner
    assert instance.labels[INSTANCE_LABEL] == "z1"
    assert instance.labels[SITE_LABEL] == "shop"
    assert os.getpgid(int(instance.handle)) == int(instance.handle)  # its own process group
    async with httpx.AsyncClient() as client:
        page = await client.get(instance.url + "/admin/login")
    assert page.status_code == 200
    assert [i.id for i in await process_backend.owned(process_backend.owner)] == ["z1"]
    memory = await process_backend.memory_detail(instance)
    assert 0 < memory["uss"] <= memory["pss"] <= memory["rss"]

    await process_backend.stop(instance)
    assert not await process_backend.alive(instance)
    assert await process_backend.owned(process_backend.owner) == []
    with socket.socket() as sock:  # the port is free again (for a server, which reuses)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", instance.port))


async def test_instances_forked_from_one_warmed_app_each_serve_their_own_data_dir(
    process_backend: ProcessBackend, shop: SiteSpec, copy_store: SnapshotStore
):
    # The launcher builds and warms one app; each fork binds it to its own clone.
    first = await _launch(process_backend, shop, copy_store, "own1")
    second = await _launch(process_backend, shop, copy_store, "own2")
    try:
        for instance in (first, second):
            (instance.data_dir / "media" / "marker.txt").write_text(instance.id)
        with sqlite3.connect(first.data_dir / "shop.db") as conn:
            conn.execute("UPDATE products SET name = 'Zyxwv Lamp' WHERE id = 1")
        async with httpx.AsyncClient() as client:
            for instance in (first, second):
                marker = await client.get(instance.url + "/media/marker.txt")
                assert marker.text == instance.id
            found = [
                "Zyxwv Lamp" in (await client.get(i.url + "/search?q=zyxwv")).text
                for i in (first, second)
            ]
        assert found == [True, False]
    finally:
        await process_backend.stop(first)
        await process_backend.stop(second)


@pytest.mark.skipif(not ksm.supported(), reason="no PR_SET_MEMORY_MERGE (Linux < 6.4)")
async def test_instances_are_marked_for_same_page_merging_only_when_asked(
    shop: SiteSpec, copy_store: SnapshotStore, tmp_path: Path
):
    def merge_any(pid: int | str) -> bool:
        return "ksm_merge_any: yes" in Path(f"/proc/{pid}/ksm_stat").read_text()

    preload = {"shop": list(get_site("shop").preload)}
    for merge, cold in ((True, False), (True, True), (False, False)):
        backend = ProcessBackend(
            owner=f"ksmtest{merge:d}{cold:d}",
            state_dir=tmp_path / f"state-{merge}-{cold}",
            preload=preload,
            zygote=not cold,
            merge_memory=merge,
        )
        try:
            instance = await _launch(backend, shop, copy_store, f"k{merge:d}{cold:d}")
            assert merge_any(int(instance.handle)) is merge
            await backend.stop(instance)
        finally:
            await backend.close()
    assert not merge_any("self")


async def test_cold_launch_and_leftovers_found_by_a_new_backend(
    tmp_path: Path, shop: SiteSpec, copy_store: SnapshotStore
):
    cold = ProcessBackend(owner="coldtest", state_dir=tmp_path, zygote=False)
    instance = await _launch(cold, shop, copy_store, "c1")
    assert not cold.zygotes
    # A new backend object (a restarted manager) finds the instance from the state file.
    again = ProcessBackend(owner="coldtest", state_dir=tmp_path)
    [found] = await again.owned("coldtest")
    assert (found.id, found.port, found.handle) == (instance.id, instance.port, instance.handle)
    await again.stop(found)
    assert not await cold.alive(instance)


async def test_a_crashing_site_fails_fast(
    process_backend: ProcessBackend, shop: SiteSpec, tmp_path: Path
):
    try:
        instance = await process_backend.start(shop, "broken", tmp_path / "no-data", free_port())
    except LaunchError as err:  # it crashed before the backend could even note its start
        assert "exited at once" in str(err)
        return
    async with httpx.AsyncClient() as client:

        async def alive() -> bool:
            return await process_backend.alive(instance)

        with pytest.raises(NotReady, match="exited while starting"):
            await wait_healthy(client, instance.url + shop.health_path, 30, alive)
    await process_backend.stop(instance)


async def test_killed_instance_is_not_alive(
    process_backend: ProcessBackend, shop: SiteSpec, copy_store: SnapshotStore
):
    instance = await _launch(process_backend, shop, copy_store, "k1")
    os.killpg(int(instance.handle), signal.SIGKILL)
    await pool_fixtures.until(lambda: _not(process_backend.alive(instance)))
    await process_backend.stop(instance)


async def _not(result) -> bool:  # type: ignore[no-untyped-def]
    return not await result
