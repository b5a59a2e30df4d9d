"""PoolManager on the docker backend: hand-over, recycle to fresh state on pre-started
runtimes, adoption of pristine leftovers after a crash, `webserv pool clean`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import docker
import docker_fixtures
import httpx
import pool_fixtures
import pytest

from webserv.pool.backends.base import OWNER_LABEL
from webserv.pool.backends.docker import DockerBackend
from webserv.pool.backends.runtimes import RUNTIME_LABEL
from webserv.pool.manager import PoolManager, PoolSite, pristine_dir
from webserv.pool.pristine import PristineMarks
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site
from webserv.sites.spec import SiteSpec

pytestmark = pytest.mark.docker


def _manager(
    backend: DockerBackend, store: SnapshotStore, spec: SiteSpec, state_dir: Path | None = None
) -> PoolManager:
    site = PoolSite(spec, "shop", 1)
    return PoolManager(backend, store, [site], health_interval_s=0.5, state_dir=state_dir)


def _containers(engine: docker.DockerClient, owner: str) -> list[str]:
    found = engine.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner}"})
    return [container["Id"] for container in found]


async def _signed_in(client: httpx.AsyncClient, url: str, cookie: str) -> bool:
    response = await client.get(url + "/admin/dashboard", headers={"cookie": cookie})
    return response.status_code == 200


async def test_pool_hands_over_containers_and_recycles_them_fresh(
    runtime_backend: DockerBackend,
    shop_store: SnapshotStore,
    docker_shop: SiteSpec,
    engine: docker.DockerClient,
) -> None:
    owner = runtime_backend.owner
    async with _manager(runtime_backend, shop_store, docker_shop) as pool:
        await pool.wait_standby()
        first = await pool.acquire("shop")
        assert first.instance.backend == "docker"
        assert pool.counters["launched"] == 1  # on the runtime prepared at start
        async with httpx.AsyncClient() as client:
            response = await pool_fixtures.admin_sign_in(client, first.url)
            assert response.status_code == 303, response.text
            cookie = response.headers["set-cookie"].split(";")[0]
            assert await _signed_in(client, first.url, cookie)

            await pool.release(first.id)
            await pool.drain()
            assert first.instance.handle not in _containers(engine, runtime_backend.owner)
            await pool.wait_standby()
            second = await pool.acquire("shop")
            assert second.instance.handle != first.instance.handle
            assert not await _signed_in(client, second.url, cookie)
    # What is left is the backend's runtime (ready or starting); closing the backend removes it.
    left = engine.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner}"})
    assert [RUNTIME_LABEL in c["Labels"] for c in left] == [True]
    await runtime_backend.close()
    assert _containers(engine, runtime_backend.owner) == []
    assert shop_store.clones() == []


def _crash_config(store: SnapshotStore, owner: str, state_dir: Path | None) -> dict:
    return {
        "backend": "docker",
        "owner": owner,
        "root": str(store.root),
        "driver": store.driver.name,
        "standby": 1,
        "state_dir": str(state_dir) if state_dir else None,
    }


async def test_a_restarted_pool_adopts_pristine_containers_and_removes_the_rest(
    shop_store: SnapshotStore, docker_shop: SiteSpec, engine: docker.DockerClient, tmp_path: Path
) -> None:
    owner = f"{docker_fixtures.OWNER}-restart"
    crashed = await pool_fixtures.crashed_manager(_crash_config(shop_store, owner, tmp_path))
    [pristine] = crashed["standby"]
    backend = DockerBackend(
        owner=owner, runtimes=1, preload={"shop": list(get_site("shop").preload)}
    )
    try:
        async with _manager(backend, shop_store, docker_shop, tmp_path) as pool:
            assert pool.counters["adopted"] == 1
            assert pool.counters["launched"] == 0
            clones = [c for c in shop_store.clones() if c.startswith(owner)]
            assert clones == [pristine]  # the leased one's clone is destroyed
            lease = await pool.acquire("shop")
            assert lease.instance.id == pristine
            assert pool_fixtures.sessions(lease.instance.data_dir) == 0
        await backend.close()
        assert _containers(engine, owner) == []
        assert not any(c.startswith(owner) for c in shop_store.clones())
        assert not (backend.runtime_root / owner).exists()
        assert pool.marks.ids() == []
    finally:
        await backend.close()
        await docker_fixtures.remove_leftovers(owner, shop_store)


@pytest.mark.usefixtures("images")
async def test_pool_clean_removes_docker_leftovers(
    shop_store: SnapshotStore, engine: docker.DockerClient
) -> None:
    owner = f"{docker_fixtures.OWNER}-clean"
    try:
        await pool_fixtures.crashed_manager(_crash_config(shop_store, owner, None))
        assert len(_containers(engine, owner)) >= 3  # leased, standby, idle runtime
        marks = PristineMarks(pristine_dir() / owner)
        assert len(marks.ids()) == 1
        webserv = Path(sys.executable).with_name("webserv")
        argv = ["pool", "clean", "--backend", "docker", "--owner", owner]
        store_args = [
            "--snapshot-root",
            str(shop_store.root),
            "--snapshot-driver",
            shop_store.driver.name,
        ]
        clean = await asyncio.create_subprocess_exec(
            webserv, *argv, *store_args, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await clean.communicate()
        assert clean.returncode == 0, out
        assert b"docker instances, destroyed 2 clones" in out
        assert _containers(engine, owner) == []
        assert not any(c.startswith(owner) for c in shop_store.clones())
        assert not (DockerBackend(owner=owner).runtime_root / owner).exists()
        assert marks.ids() == []
    finally:
        await docker_fixtures.remove_leftovers(owner, shop_store)
