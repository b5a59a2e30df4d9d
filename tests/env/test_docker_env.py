"""The shop on the docker backend through every entry point: ``gymnasium.make`` in process
and ``webserv serve --site shop:docker`` over HTTP, with nothing left behind."""

from __future__ import annotations

from pathlib import Path

import docker
import env_fixtures
import gymnasium
import httpx
import pytest

from benchmarks.serving import server_process
from webserv.client import RemoteWebEnv
from webserv.pool.backends.base import OWNER_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.browser]


def containers_of(engine: docker.DockerClient, owner: str) -> list[str]:
    found = engine.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner}"})
    return [c.id for c in found]


def test_gymnasium_env_on_docker_instances(
    engine: docker.DockerClient, images: object, shop_golden: Path, tmp_path: Path
):
    owner = f"gymdocker{tmp_path.name[-6:]}"
    shop = {
        "name": "shop",
        "backend": "docker",
        "standby": 1,
        "golden": env_fixtures.suite_params(),
        "golden_source": shop_golden,
    }
    config = {
        "sites": [shop],
        "snapshot_root": tmp_path / "snapshots",
        "snapshot_driver": "copy",
        "owner": owner,
        "max_instances": 3,
    }
    env = gymnasium.make("webserv/Shop-v0", runtime_config=config, max_steps=3)
    try:
        obs, info = env.reset(options={"task_id": 0})
        assert info["isolated"] and "/admin" in obs["url"] and "Signed in as" in obs["text"]
        assert containers_of(engine, f"{owner}.docker")  # the instances are containers
        obs, reward, terminated, _, info = env.step('stop("no idea")')
        assert terminated and reward == 0.0 and info["evaluation"]["evaluable"]
    finally:
        env.close()
    assert containers_of(engine, f"{owner}.docker") == []


def test_server_on_docker_instances(
    engine: docker.DockerClient, images: object, shop_golden: Path, tmp_path: Path
):
    server = server_process(
        "--site", "shop:docker", "--standby", "1", "--max-instances", "3",
        "--golden-source", str(shop_golden),
        "--snapshot-root", str(tmp_path / "snapshots"), "--snapshot-driver", "copy",
        log=tmp_path / "server.log", env={"WEBSERV_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    server.start()
    owner = f"{server.server_id}.docker"
    try:
        pools = httpx.get(server.url + "/v1/pool").json()["pools"]
        assert [p["backend"] for p in pools] == ["docker"]
        env = RemoteWebEnv(server.url, site="shop", max_steps=3)
        try:
            obs, _ = env.reset(options={"task_id": 0})
            assert "Signed in as" in obs["text"] and containers_of(engine, owner)
            _, reward, terminated, _, _ = env.step('stop("no idea")')
            assert terminated and reward == 0.0
        finally:
            env.close()
    finally:
        server.stop()
    assert containers_of(engine, owner) == []
