"""Shared fixtures: a small seeded shop, fresh copies of it, an in-process client, a server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

SHOP_TEST_SCALE = 0.02
SHOP_TEST_SEED = 42


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    """Poll ``url`` until it answers < 400; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before becoming ready")
            try:
                if client.get(url).status_code < 400:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)  # poll interval while the port is not yet open
    raise TimeoutError(f"{url} not healthy after {timeout_s} s")


@pytest.fixture(scope="session")
def shop_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded shop data dir, shared by the whole session; never mutate it."""
    from webserv.sites.shop.seed import seed

    out = tmp_path_factory.mktemp("shop-golden") / "data"
    seed(out, seed=SHOP_TEST_SEED, scale=SHOP_TEST_SCALE)
    return out


@pytest.fixture
def shop_data_dir(shop_golden: Path, tmp_path: Path) -> Path:
    """A fresh, mutable copy of :func:`shop_golden`."""
    return Path(shutil.copytree(shop_golden, tmp_path / "shop-data"))


@pytest.fixture
def shop_client(shop_data_dir: Path) -> Iterator[TestClient]:
    """An in-process client of the shop over a fresh data dir."""
    from webserv.sites.shop.app import create_app

    with TestClient(create_app(shop_data_dir)) as client:
        yield client


@pytest.fixture
def shop_server(shop_data_dir: Path) -> Iterator[str]:
    """A real shop process on a free 127.0.0.1 port over a fresh data dir; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webserv.sites.shop",
            "--data-dir",
            str(shop_data_dir),
            "--port",
            str(port),
        ],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/healthz", proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
