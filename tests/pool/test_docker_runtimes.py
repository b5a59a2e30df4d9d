"""Pre-started runtime containers: a launch mounts the clone into one and it serves it,
seeing its own clone only, on 127.0.0.1 only, with the spec's limits and the pool's labels."""

from __future__ import annotations

import asyncio
import uuid

import docker
import docker_fixtures
import httpx
import pool_fixtures
import pytest

from webserv.pool.backends.base import INSTANCE_LABEL, OWNER_LABEL, SITE_LABEL
from webserv.pool.backends.docker import DockerBackend, DockerError
from webserv.pool.backends.runtimes import CONTROL_DIR, RUNTIME_LABEL
from webserv.pool.health import wait_healthy
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.spec import SiteSpec

pytestmark = pytest.mark.docker


def _run(engine: docker.DockerClient, handle: str, *argv: str) -> str:
    result = engine.api.exec_create(handle, list(argv))
    return engine.api.exec_start(result["Id"]).decode()


def _containers(engine: docker.DockerClient, owner: str) -> list[dict]:
    return engine.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner}"})


async def test_a_launch_on_a_runtime_serves_its_own_clone_only(
    runtime_backend: DockerBackend,
    docker_shop: SiteSpec,
    shop_store: SnapshotStore,
    engine: docker.DockerClient,
) -> None:
    backend = runtime_backend
    await backend.prepare(docker_shop)
    assert backend.idle_runtimes("shop") == 1
    name = f"rt-{uuid.uuid4().hex[:8]}"
    data_dir = shop_store.clone("shop", name)
    instance = await backend.start(docker_shop, name, data_dir, None)
    async with httpx.AsyncClient(base_url=instance.url) as client:
        await wait_healthy(client, instance.url + docker_shop.health_path, 60)
        attrs = engine.api.inspect_container(instance.handle)
        bindings = attrs["HostConfig"]["PortBindings"][f"{docker_shop.container_port}/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(instance.port)}]
        assert attrs["HostConfig"]["Memory"] == 512 * 2**20
        labels = attrs["Config"]["Labels"]
        assert (labels[OWNER_LABEL], labels[SITE_LABEL]) == (backend.owner, "shop")
        assert labels[RUNTIME_LABEL] == instance.labels[RUNTIME_LABEL]
        assert instance.labels[INSTANCE_LABEL] == name
        assert sorted(m["Destination"] for m in attrs["Mounts"]) == ["/data", CONTROL_DIR]

        golden = shop_store.golden_path("shop")
        before = pool_fixtures.sessions(golden)
        response = await pool_fixtures.admin_sign_in(client)
        assert response.status_code == 303, response.text
        assert pool_fixtures.sessions(data_dir) == before + 1
        assert pool_fixtures.sessions(golden) == before

    # The runtime started in its place sees an empty data dir; neither sees other clones.
    await pool_fixtures.until(lambda: backend.idle_runtimes("shop") == 1, 60)
    [idle] = [c for c in _containers(engine, backend.owner) if c["Id"] != instance.handle]
    assert _run(engine, idle["Id"], "ls", "-A", "/data") == ""
    assert _run(engine, instance.handle, "ls", "-A", "/data").split() == ["media", "shop.db"]
    assert _run(engine, instance.handle, "ls", "-A", CONTROL_DIR).split() == ["sock"]

    found = {
        i.id: i
        for i in await DockerBackend(owner=backend.owner, client=engine).owned(backend.owner)
    }
    assert found[name].data_dir == data_dir.resolve()  # a restarted backend knows which clone
    assert found[name].port == instance.port

    slot = backend.runtime_root / backend.owner / instance.labels[RUNTIME_LABEL]
    await backend.stop(instance)
    assert not await backend.alive(instance)
    assert not slot.exists()
    assert (data_dir / "shop.db").is_file()  # unmounted, not deleted: the store destroys it

    # A launch cancelled while its clone is being handed over takes the runtime with it.
    other = shop_store.clone("shop", f"{name}-2")
    starting = asyncio.ensure_future(backend.start(docker_shop, f"{name}-2", other, None))
    await asyncio.sleep(0)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert _containers(engine, backend.owner) == []
    assert not (backend.runtime_root / backend.owner).exists()
    assert (other / "shop.db").is_file()
    await backend.close()
    assert _containers(engine, backend.owner) == []
    assert not (backend.runtime_root / backend.owner).exists()


async def test_runtimes_of_a_missing_image_are_a_clear_error(
    docker_shop: SiteSpec, engine: docker.DockerClient, tmp_path
) -> None:
    spec = docker_shop.model_copy(update={"image": "webserv/absent:none"})
    backend = DockerBackend(owner=f"{docker_fixtures.OWNER}-absent", client=engine, runtimes=1)
    with pytest.raises(DockerError, match="webserv images build"):
        await backend.prepare(spec)
    with pytest.raises(DockerError, match="webserv images build"):
        await backend.start(spec, "absent", tmp_path, None)
    assert _containers(engine, backend.owner) == []


AGENT_IMAGE = "webserv-test/runtime-agent:latest"
AGENT_DOCKERFILE = """
FROM webserv/base:bookworm
LABEL webserv.runtime='["/usr/local/bin/webserv-runtime", "--warm", "touch /tmp/warmed"]'
ENTRYPOINT ["/bin/sh", "-c", "exec python3 -m http.server \\"$0\\" --directory /data"]
CMD ["8000"]
"""


@pytest.fixture
def agent_site(engine: docker.DockerClient, images: object):
    """An image that is no webserv launcher: its label names the base image's agent."""
    import io

    engine.images.build(fileobj=io.BytesIO(AGENT_DOCKERFILE.encode()), tag=AGENT_IMAGE, rm=True)
    yield SiteSpec(
        name="agentsite",
        version="1",
        image=AGENT_IMAGE,
        container_port=8000,
        container_data_dir="/data",
        health_path="/page.html",
        memory_limit="128m",
    )
    engine.images.remove(AGENT_IMAGE, force=True)


async def test_an_image_with_a_runtime_agent_warms_then_serves_its_clone(
    engine: docker.DockerClient, agent_site: SiteSpec, tmp_path
) -> None:
    backend = DockerBackend(owner=f"{docker_fixtures.OWNER}-agent", client=engine, runtimes=1)
    store = SnapshotStore(tmp_path / "store")
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "page.html").write_text("golden page")
    store.create_golden("agentsite", tmp_path / "golden")
    try:
        assert await backend.takes_runtimes(agent_site)
        await backend.prepare(agent_site)
        assert backend.idle_runtimes("agentsite") == 1
        data_dir = store.clone("agentsite", "agent-1")
        (data_dir / "page.html").write_text("this instance's page")
        instance = await backend.start(agent_site, "agent-1", data_dir, None)
        assert instance.labels[RUNTIME_LABEL]
        async with httpx.AsyncClient() as client:
            await wait_healthy(client, instance.url + "/page.html", 60)
            answer = await client.get(instance.url + "/page.html")
        assert answer.text == "this instance's page"
        assert _run(engine, instance.handle, "ls", "/tmp/warmed").strip() == "/tmp/warmed"
        await backend.stop(instance)
    finally:
        await backend.close()
        for left in await backend.owned(backend.owner):
            await backend.stop(left)
        store.wipe()
    assert not _containers(engine, backend.owner)
