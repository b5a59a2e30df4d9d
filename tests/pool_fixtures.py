"""Pool helpers shared across packages: the shop's spec, waiting on a condition, a crashed
manager, the admin sign-in, btrfs detection."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from webserv.pool.snapshot.drivers import filesystem_type
from webserv.sites.registry import get as get_site
from webserv.sites.shop.accounts import ADMIN
from webserv.sites.spec import SiteSpec

#: The hidden field that carries the shop's form key in every form it renders.
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')

BTRFS_ROOT = Path(os.environ.get("WEBSERV_BTRFS_ROOT", "/mnt/webserv-btrfs"))


def btrfs_available() -> bool:
    return os.path.ismount(BTRFS_ROOT) and filesystem_type(BTRFS_ROOT) == "btrfs"


needs_btrfs = pytest.mark.skipif(
    not btrfs_available(), reason=f"no btrfs mounted at {BTRFS_ROOT} (run scripts/services.sh)"
)


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout_s: float = 20.0) -> None:
    """Wait until ``condition()`` is true (it may be async), or fail the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
def shop() -> SiteSpec:
    return get_site("shop").spec


#: A pool manager run as its own process by :func:`crashed_manager`: it fills standby,
#: leases one instance and writes to it, refills standby, reports, then waits to be killed.
_DOOMED_MANAGER = """
import asyncio, json, re, sys
from pathlib import Path

import httpx

from webserv.pool.manager import PoolManager, PoolSite
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.registry import get as get_site

PRELOAD = {"shop": list(get_site("shop").preload)}


async def main(config):
    if config["backend"] == "process":
        from webserv.pool.backends.process import ProcessBackend

        backend = ProcessBackend(
            owner=config["owner"], state_dir=Path(config["backend_state"]), preload=PRELOAD
        )
    else:
        from webserv.pool.backends.docker import DockerBackend

        backend = DockerBackend(owner=config["owner"], runtimes=1, preload=PRELOAD)
    store = SnapshotStore(Path(config["root"]), config["driver"])
    site = PoolSite(get_site("shop").spec, "shop", config["standby"])
    state_dir = Path(config["state_dir"]) if config.get("state_dir") else None
    pool = PoolManager(backend, store, [site], state_dir=state_dir)
    await pool.start()
    await pool.wait_standby()
    lease = await pool.acquire("shop")
    async with httpx.AsyncClient() as client:
        page = await client.get(lease.url + "/admin/login")
        key = re.search('name="form_key" value="([^"]+)"', page.text).group(1)
        login = {"username": "admin", "password": "admin1234", "form_key": key}
        response = await client.post(lease.url + "/admin/login", data=login)
        assert response.status_code == 303, response.text
    await pool.wait_standby()
    standby = [i.id for i in pool.status().instances if i.state == "standby"]
    print(json.dumps({"leased": lease.instance.id, "standby": standby}), flush=True)
    await asyncio.Event().wait()


asyncio.run(main(json.loads(sys.argv[1])))
"""


async def crashed_manager(config: dict[str, object], timeout_s: float = 120.0) -> dict[str, object]:
    """Run a pool manager in a child process configured by ``config`` (backend, owner,
    root, driver, standby, state_dir (None: the default), and backend_state for the process
    backend), kill it
    with SIGKILL once it has a leased (written-to) instance and a full standby, and return
    ``{"leased": id, "standby": [ids]}`` as it reported them."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _DOOMED_MANAGER,
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout_s)
        assert line, "the pool manager child exited before reporting"
        return json.loads(line)
    finally:
        child.kill()
        await child.wait()


def sessions(data_dir: Path) -> int:
    """Sign-in sessions stored in a shop data dir (each admin login writes one)."""
    conn = sqlite3.connect(f"file:{data_dir / 'shop.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()


async def admin_sign_in(client: httpx.AsyncClient, url: str = "") -> httpx.Response:
    """Post the shop's admin sign-in form as a browser does: with the form key of the page
    (the client keeps the page's cookie). ``url``: the instance, or "" for a base_url client."""
    page = await client.get(url + ADMIN.login_path)
    found = FORM_KEY.search(page.text)
    assert found, f"no form key on {url + ADMIN.login_path}"
    form = {"username": ADMIN.login, "password": ADMIN.password, "form_key": found.group(1)}
    return await client.post(url + ADMIN.login_path, data=form)
