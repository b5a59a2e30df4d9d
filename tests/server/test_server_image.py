"""What the server image is made of: webserv's wheel and its pinned run-time dependencies."""

from __future__ import annotations

import zipfile
from importlib import metadata
from pathlib import Path

import docker
import pytest

from webserv.pool.images.build import BuiltImage, webserv_wheel
from webserv.server.image import SERVER_IMAGE, build_server, server_requirements

VERSION = metadata.version("webserv")


def test_the_image_gets_every_runtime_dependency_pinned():
    requirements = server_requirements()
    pins = dict(pin.split("==") for pin in requirements if "==" in pin)
    for name in ("fastapi", "uvicorn", "playwright", "redis", "httpx", "gymnasium", "starlette"):
        assert pins.get(name)
    assert "webserv" not in pins and "pytest" not in pins and "ruff" not in pins
    # Debian 12's Python 3.11.2 needs what the Python running the tests may not.
    assert any(r.startswith("async-timeout") for r in requirements)


@pytest.mark.slow
def test_webserv_wheel_holds_the_package_its_data_and_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSERV_HOME", str(tmp_path))  # the wheel's cache
    wheel = webserv_wheel()
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(f"webserv-{VERSION}.dist-info/entry_points.txt").decode()
    assert {
        "webserv/cli.py",
        "webserv/server/app.py",
        "webserv/pool/backends/zygote.py",
        "webserv/sites/shop/schema.sql",
        "webserv/sites/shop/tasks/tasks.json",
    } <= names
    assert not [n for n in names if n.startswith("benchmarks/") or "__pycache__" in n]
    assert "[webserv.sites]" in entry_points and "shop = webserv.sites.shop.plugin:site" in (
        entry_points
    )
    assert webserv_wheel() == wheel  # built once per source hash


@pytest.mark.docker
@pytest.mark.slow
def test_the_server_image_finds_the_sites_of_its_installed_webserv(
    engine: docker.DockerClient,
) -> None:
    built: list[BuiltImage] = build_server(engine, log=lambda line: None)
    assert built[-1].tag == SERVER_IMAGE
    script = (
        "from importlib.metadata import distribution; from webserv.sites import registry; "
        "print(distribution('webserv').version, ' '.join(registry.names()))"
    )
    out = engine.containers.run(
        SERVER_IMAGE, ["-c", script], entrypoint="python", remove=True, network_disabled=True
    )
    version, sites = out.decode().split(" ", 1)
    assert version == VERSION and "shop" in sites.split()
    assert "serve" in engine.containers.run(SERVER_IMAGE, ["--help"], remove=True).decode()
