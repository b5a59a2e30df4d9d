"""The local images: built from a debootstrap rootfs and a wheelhouse, reused when current."""

from __future__ import annotations

import time
from importlib import metadata

import docker
import docker_fixtures
import pytest

from webserv.pool.images.build import (
    BASE_IMAGE,
    HASH_LABEL,
    SHOP_IMAGE,
    BuiltImage,
    build_all,
    expected_hashes,
    site_requirements,
)
from webserv.pool.sites import shop_spec

engine = docker_fixtures.engine
images = docker_fixtures.images


def test_site_requirements_pin_installed_versions_transitively() -> None:
    pins = dict(pin.split("==") for pin in site_requirements())
    for name in ("fastapi", "uvicorn", "jinja2", "pillow", "python-multipart"):
        assert pins[name] == metadata.version(name)
    # Not listed, needed through fastapi: the closure must contain it.
    assert pins["starlette"] == metadata.version("starlette")
    assert "playwright" not in pins and "docker" not in pins


@pytest.mark.docker
def test_a_second_build_reuses_both_images(
    engine: docker.DockerClient, images: list[BuiltImage]
) -> None:
    began = time.monotonic()
    again = build_all(engine)
    assert time.monotonic() - began < 5
    assert [image.tag for image in again] == [BASE_IMAGE, SHOP_IMAGE]
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
    spec = shop_spec()
    config = engine.images.get(spec.image).attrs["Config"]
    assert f"{spec.container_port}/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["python", "-m", "webserv.sites.shop"]
    cmd = config["Cmd"]
    assert cmd[cmd.index("--data-dir") + 1] == spec.container_data_dir
    assert cmd[cmd.index("--port") + 1] == str(spec.container_port)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
