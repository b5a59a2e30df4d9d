"""The local images: containers/ built on a debootstrap rootfs, reused when current, and
buildable by plain `docker build`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from importlib import metadata

import docker
import docker_fixtures
import httpx
import pytest

from webserv.pool.images.build import (
    BASE_IMAGE,
    HASH_LABEL,
    ROOTFS_IMAGE,
    SHOP_IMAGE,
    BuiltImage,
    build_all,
    container_dir,
    expected_hashes,
    site_requirements,
    write_wheels,
)
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site


def test_site_requirements_pin_installed_versions_transitively() -> None:
    pins = dict(pin.split("==") for pin in site_requirements())
    for name in ("fastapi", "uvicorn", "jinja2", "pillow", "python-multipart"):
        assert pins[name] == metadata.version(name)
    # Not listed, needed through fastapi: the closure must contain it.
    assert pins["starlette"] == metadata.version("starlette")
    assert "playwright" not in pins and "docker" not in pins


def test_each_image_folder_defaults_to_the_image_a_registry_user_pulls() -> None:
    defaults = {"base": "debian:bookworm-slim", "shop": BASE_IMAGE, "server": BASE_IMAGE}
    for name, base in defaults.items():
        assert f"ARG BASE_IMAGE={base}\n" in (container_dir(name) / "Dockerfile").read_text()
    assert get_site("shop").container == container_dir("shop")


@pytest.mark.docker
def test_a_second_build_reuses_every_image(
    engine: docker.DockerClient, images: list[BuiltImage]
) -> None:
    again = build_all(engine)
    assert [image.tag for image in again] == [ROOTFS_IMAGE, BASE_IMAGE, SHOP_IMAGE]
    assert not any(image.built for image in again)
    assert [image.image_id for image in again] == [image.image_id for image in images]
    want = expected_hashes(engine)
    for image in again:
        assert engine.images.get(image.tag).labels[HASH_LABEL] == want[image.tag]


@pytest.mark.docker
def test_base_image_has_python_and_venv(
    engine: docker.DockerClient, images: list[BuiltImage]
) -> None:
    out = engine.containers.run(
        BASE_IMAGE,
        ["python3", "-c", "import ensurepip, sys, venv; print(sys.version_info[:2])"],
        remove=True,
        network_disabled=True,
    )
    assert out.strip() == b"(3, 11)"


@pytest.mark.docker
def test_shop_image_matches_the_shop_spec(
    engine: docker.DockerClient, images: list[BuiltImage]
) -> None:
    spec = get_site("shop").spec
    config = engine.images.get(spec.image).attrs["Config"]
    assert f"{spec.container_port}/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["python", "-m", "webserv.sites.shop"]
    cmd = config["Cmd"]
    assert cmd[cmd.index("--data-dir") + 1] == spec.container_data_dir
    assert cmd[cmd.index("--port") + 1] == str(spec.container_port)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"


def _wait_healthy(url: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return httpx.get(url, timeout=2).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.docker
def test_plain_docker_build_of_the_shop_folder_serves_the_shop(
    engine: docker.DockerClient, images: list[BuiltImage], shop_store: SnapshotStore
) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker command is not installed")
    base = next(image for image in images if image.tag == BASE_IMAGE)
    spec = get_site("shop").spec
    write_wheels("shop")
    # A tag of our own: removing it deletes what this build made and nothing else, also
    # when the build's steps came from the cache of webserv/shop:latest.
    tag = f"webserv-test/shop:{os.getpid()}"
    clone = f"{docker_fixtures.OWNER}-plain-build"
    container = None
    try:
        build_arg = f"BASE_IMAGE={base.image_id}"
        folder = str(container_dir("shop"))
        built = subprocess.run(
            ["docker", "build", "-q", "-t", tag, "--build-arg", build_arg, folder],
            capture_output=True,
            text=True,
            check=False,
        )
        assert built.returncode == 0, built.stderr
        container = engine.containers.run(
            tag,
            detach=True,
            ports={f"{spec.container_port}/tcp": ("127.0.0.1", None)},
            volumes={str(shop_store.clone("shop", clone)): {"bind": "/data", "mode": "rw"}},
        )
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{spec.container_port}/tcp"]
        assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}
        url = f"http://127.0.0.1:{bindings[0]['HostPort']}{spec.health_path}"
        assert _wait_healthy(url, spec.ready_timeout_s) == 200
    finally:
        if container is not None:
            container.remove(force=True)
        if engine.images.list(name=tag):
            engine.images.remove(tag)
        if clone in shop_store.clones():
            shop_store.destroy(clone)
