"""Fixtures for the docker tests: the images (built once, reused when current), a seeded
golden shop in a snapshot store, and a backend whose leftovers are removed afterwards."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import pytest

from webserv.pool.backends.docker import DockerBackend, docker_client
from webserv.pool.images.build import BuiltImage, build_all
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site
from webserv.sites.spec import SiteSpec

#: Per test process, so two test runs on one engine never touch each other's containers.
OWNER = f"dockertest-{os.getpid()}"


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    client = docker_client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(engine: docker.DockerClient) -> list[BuiltImage]:
    """The base and shop images: built if absent or outdated, else reused in well under 1 s."""
    return build_all(engine)


@pytest.fixture(scope="session")
def docker_shop(images: list[BuiltImage]) -> SiteSpec:
    spec = get_site("shop").spec
    assert spec.image == images[-1].tag
    return spec


@pytest.fixture(scope="session")
def shop_store(
    tmp_path_factory: pytest.TempPathFactory, shop_golden: Path
) -> Iterator[SnapshotStore]:
    """A store (driver auto-detected) holding the small shop as golden ``shop``."""
    store = SnapshotStore(tmp_path_factory.mktemp("docker-store") / "store")
    store.create_golden("shop", shop_golden)
    yield store
    store.wipe()


@pytest.fixture
async def docker_backend(
    engine: docker.DockerClient, shop_store: SnapshotStore
) -> AsyncIterator[DockerBackend]:
    """A backend of this test process; its containers and clones are removed afterwards."""
    backend = DockerBackend(owner=OWNER, client=engine)
    yield backend
    for instance in await backend.owned(OWNER):
        await backend.stop(instance)
    for clone in shop_store.clones():
        shop_store.destroy(clone)


@pytest.fixture
async def runtime_backend(
    engine: docker.DockerClient, shop_store: SnapshotStore
) -> AsyncIterator[DockerBackend]:
    """A backend keeping one pre-started runtime per site; everything it started, and the
    clones, are removed afterwards."""
    backend = DockerBackend(
        owner=f"{OWNER}-rt",
        client=engine,
        runtimes=1,
        preload={"shop": list(get_site("shop").preload)},
    )
    yield backend
    await backend.close()
    for instance in await backend.owned(backend.owner):
        await backend.stop(instance)
    for clone in shop_store.clones():
        shop_store.destroy(clone)


async def remove_leftovers(owner: str, store: SnapshotStore) -> None:
    """Remove what a failed test left of ``owner``: containers, runtime slots, clones."""
    backend = DockerBackend(owner=owner)
    try:
        for instance in await backend.owned(owner):
            await backend.stop(instance)
    finally:
        await backend.close()
    for clone in store.clones():
        if clone.startswith(f"{owner}-"):
            store.destroy(clone)
