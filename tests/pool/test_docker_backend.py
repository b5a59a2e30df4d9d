"""The docker backend against the real engine: one container per clone, on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import psutil
import pytest
from pool_fixtures import admin_sign_in

from webserv import ksm
from webserv.pool.backends.base import INSTANCE_LABEL, OWNER_LABEL, SITE_LABEL, Instance, free_port
from webserv.pool.backends.docker import DockerBackend, DockerError
from webserv.pool.health import wait_healthy
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.spec import SiteSpec

pytestmark = pytest.mark.docker


def _sessions(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'shop.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"condition not met within {timeout_s} s"
        await asyncio.sleep(0.02)


async def _launch(backend: DockerBackend, spec: SiteSpec, store: SnapshotStore) -> Instance:
    """Start an instance on a fresh clone and wait until its health URL answers."""
    name = f"d-{uuid.uuid4().hex[:8]}"
    data_dir = store.clone("shop", name)
    instance = await backend.start(spec, name, data_dir, free_port())

    async def alive() -> bool:
        return await backend.alive(instance)

    async with httpx.AsyncClient() as client:
        await wait_healthy(client, instance.url + spec.health_path, spec.ready_timeout_s, alive)
    return instance


async def test_instance_serves_its_clone_on_loopback_only(
    docker_backend: DockerBackend,
    docker_shop: SiteSpec,
    shop_store: SnapshotStore,
    engine: docker.DockerClient,
) -> None:
    instance = await _launch(docker_backend, docker_shop, shop_store)
    async with httpx.AsyncClient(base_url=instance.url) as client:
        attrs = engine.api.inspect_container(instance.handle)
        bindings = attrs["HostConfig"]["PortBindings"][f"{docker_shop.container_port}/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(instance.port)}]
        assert attrs["HostConfig"]["Memory"] == 512 * 2**20
        assert attrs["Config"]["Labels"][OWNER_LABEL] == docker_backend.owner
        assert attrs["Config"]["Labels"][INSTANCE_LABEL] == instance.id
        assert attrs["Config"]["Labels"][SITE_LABEL] == "shop"
        [mount] = attrs["Mounts"]
        assert (mount["Source"], mount["Destination"]) == (str(instance.data_dir), "/data")

        golden = shop_store.golden_path("shop")
        before = _sessions(golden)
        response = await admin_sign_in(client)
        assert response.status_code == 303, response.text
        # The shop commits after the response is sent, so the row may land a moment later.
        await _until(lambda: _sessions(instance.data_dir) == before + 1)
        assert _sessions(golden) == before

        assert 10 * 2**20 < await docker_backend.memory_bytes(instance) < 512 * 2**20

    await docker_backend.stop(instance)
    assert not await docker_backend.alive(instance)
    await docker_backend.stop(instance)  # idempotent
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", instance.port)),
    ):
        pass


async def test_killed_container_is_not_alive_and_says_why(
    docker_backend: DockerBackend,
    docker_shop: SiteSpec,
    shop_store: SnapshotStore,
    engine: docker.DockerClient,
) -> None:
    instance = await _launch(docker_backend, docker_shop, shop_store)
    assert await docker_backend.alive(instance)
    engine.api.kill(instance.handle)
    engine.api.wait(instance.handle)
    assert not await docker_backend.alive(instance)
    assert await docker_backend.memory_bytes(instance) == 0
    why = await docker_backend.diagnose(instance)
    assert "exited with code 137" in why and "shop ready" in why
    # A dead container is still a leftover to reconcile until it is stopped.
    assert instance.id in [found.id for found in await docker_backend.owned(docker_backend.owner)]
    await docker_backend.stop(instance)
    assert instance.id not in [i.id for i in await docker_backend.owned(docker_backend.owner)]


async def test_a_new_backend_finds_leftovers_of_its_owner_only(
    docker_backend: DockerBackend, docker_shop: SiteSpec, shop_store: SnapshotStore
) -> None:
    instance = await _launch(docker_backend, docker_shop, shop_store)
    restarted = DockerBackend(owner=docker_backend.owner)  # its own engine connection
    try:
        [found] = await restarted.owned(docker_backend.owner)
        assert (found.id, found.site, found.port, found.data_dir, found.handle) == (
            instance.id,
            "shop",
            instance.port,
            instance.data_dir,
            instance.handle,
        )
        assert await restarted.owned(f"{docker_backend.owner}-other") == []
        await restarted.stop(found)
        assert not await docker_backend.alive(instance)
    finally:
        await restarted.close()


async def test_missing_image_is_a_clear_error(
    docker_backend: DockerBackend, docker_shop: SiteSpec, tmp_path: Path
) -> None:
    spec = docker_shop.model_copy(update={"image": "webserv/absent:none"})
    with pytest.raises(DockerError, match="webserv images build"):
        await docker_backend.start(spec, "absent", tmp_path, free_port())
    no_image = docker_shop.model_copy(update={"image": None})
    with pytest.raises(DockerError, match="needs image"):
        await docker_backend.start(no_image, "none", tmp_path, free_port())


async def test_a_stopped_engine_is_a_clear_error(
    docker_shop: SiteSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    backend = DockerBackend(owner="nobody")
    with pytest.raises(DockerError, match=r"not reachable.*services\.sh"):
        await backend.owned("nobody")
    # A pinned API version skips the probe at construction: a client whose engine stopped later.
    gone = docker.DockerClient(base_url=f"unix://{tmp_path}/gone.sock", version="1.41")
    unreachable = DockerBackend(owner="nobody", client=gone)
    instance = Instance("i", "shop", "docker", 1, tmp_path, "0" * 64)
    with pytest.raises(DockerError, match="not reachable"):
        await unreachable.alive(instance)


def _merge_any(pid: int) -> bool:
    return "ksm_merge_any: yes" in Path(f"/proc/{pid}/ksm_stat").read_text()


@pytest.mark.skipif(not ksm.supported(), reason="the kernel has no PR_SET_MEMORY_MERGE")
async def test_merge_memory_marks_every_process_of_a_container_and_only_then(
    docker_backend: DockerBackend,
    docker_shop: SiteSpec,
    shop_store: SnapshotStore,
    engine: docker.DockerClient,
) -> None:
    """The container's command still runs as PID 1 (its stop signal reaches it), under the
    mark; a container of a backend without ``merge_memory`` is not marked."""
    docker_backend.merge_memory = True
    marked = await _launch(docker_backend, docker_shop, shop_store)
    docker_backend.merge_memory = False
    plain = await _launch(docker_backend, docker_shop, shop_store)
    for instance, merged in ((marked, True), (plain, False)):
        attrs = engine.api.inspect_container(instance.handle)
        init = psutil.Process(attrs["State"]["Pid"])
        assert "webserv.sites.shop" in " ".join(init.cmdline())  # perl exec'd the command
        for proc in [init, *init.children(recursive=True)]:
            assert _merge_any(proc.pid) is merged, (proc.cmdline(), merged)
        async with httpx.AsyncClient() as client:
            response = await client.get(instance.url + docker_shop.health_path)
            assert response.status_code == 200
    await docker_backend.stop(marked)
    await docker_backend.stop(plain)
    assert not await docker_backend.alive(marked)


async def test_the_marking_probe_needs_perl_to_run_and_exit_0(
    docker_backend: DockerBackend, docker_shop: SiteSpec, engine: docker.DockerClient
) -> None:
    """An image gets the mark only if a probe container of it runs Perl and exits 0."""
    image = engine.images.get(docker_shop.image)
    docker_backend.merge_memory = True
    assert docker_backend._mark_prefix(docker_shop.image) is not None  # webserv's base has Perl
    assert docker_backend._exits_0(image.id, ["/no/such/program"]) is False
    assert docker_backend._exits_0(image.id, ["perl", "-e", "exit 3"]) is False
    assert not engine.api.containers(all=True, filters={"ancestor": image.id, "status": "exited"})
