"""PoolManager on the docker backend: hand-over, recycle to fresh state, reconcile leftovers."""

from __future__ import annotations

import docker
import docker_fixtures
import httpx
import pytest

from webserv.pool.backends.base import OWNER_LABEL
from webserv.pool.backends.docker import DockerBackend
from webserv.pool.manager import PoolManager, PoolSite
from webserv.pool.snapshot import SnapshotStore
from webserv.pool.spec import SiteSpec
from webserv.sites.shop.accounts import ADMIN

pytestmark = pytest.mark.docker

engine = docker_fixtures.engine
images = docker_fixtures.images
docker_shop = docker_fixtures.docker_shop
shop_store = docker_fixtures.shop_store
docker_backend = docker_fixtures.docker_backend


def _manager(backend: DockerBackend, store: SnapshotStore, spec: SiteSpec) -> PoolManager:
    return PoolManager(backend, store, [PoolSite(spec, "shop", 1)], health_interval_s=0.5)


def _containers(engine: docker.DockerClient, owner: str) -> list[str]:
    found = engine.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner}"})
    return [container["Id"] for container in found]


async def _signed_in(client: httpx.AsyncClient, url: str, cookie: str) -> bool:
    response = await client.get(url + "/admin/dashboard", headers={"cookie": cookie})
    return response.status_code == 200


async def test_pool_hands_over_containers_and_recycles_them_fresh(
    docker_backend: DockerBackend,
    shop_store: SnapshotStore,
    docker_shop: SiteSpec,
    engine: docker.DockerClient,
) -> None:
    async with _manager(docker_backend, shop_store, docker_shop) as pool:
        await pool.wait_standby()
        first = await pool.acquire("shop")
        assert first.instance.backend == "docker"
        async with httpx.AsyncClient() as client:
            response = await client.post(
                first.url + ADMIN.login_path,
                data={"username": ADMIN.login, "password": ADMIN.password},
            )
            assert response.status_code == 303, response.text
            cookie = response.headers["set-cookie"].split(";")[0]
            assert await _signed_in(client, first.url, cookie)

            await pool.release(first.id)
            await pool.drain()
            assert first.instance.handle not in _containers(engine, docker_backend.owner)
            await pool.wait_standby()
            second = await pool.acquire("shop")
            assert second.instance.handle != first.instance.handle
            assert not await _signed_in(client, second.url, cookie)
    assert _containers(engine, docker_backend.owner) == []
    assert shop_store.clones() == []


async def test_a_restarted_pool_removes_what_the_last_one_left(
    docker_backend: DockerBackend,
    shop_store: SnapshotStore,
    docker_shop: SiteSpec,
    engine: docker.DockerClient,
) -> None:
    crashed = _manager(docker_backend, shop_store, docker_shop)
    await crashed.start()
    await crashed.wait_standby()
    await crashed.close(destroy=False)
    [leftover] = _containers(engine, docker_backend.owner)
    assert len(shop_store.clones()) == 1

    restarted = DockerBackend(owner=docker_backend.owner)
    try:
        async with _manager(restarted, shop_store, docker_shop) as pool:
            assert leftover not in _containers(engine, docker_backend.owner)
            await pool.wait_standby()
            assert len(_containers(engine, docker_backend.owner)) == 1
    finally:
        await restarted.close()
