"""Fixtures of the site tests: an in-process client of the shop, and a third-party site
package (``tests/plugins/hello_site``) installed for the session.

It is installed with pip into a temporary directory, which goes on ``sys.path`` and on
``PYTHONPATH`` (for the site processes, launchers and ``webserv`` commands the tests
start), exactly as a package in site-packages would be found: through its entry point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import pytest
from fastapi.testclient import TestClient

from webserv.env import register_envs
from webserv.sites import registry

PACKAGE = Path(__file__).parents[1] / "plugins" / "hello_site"


@pytest.fixture(scope="session")
def hello_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The installed plugin's directory; the registry and Gymnasium know ``hello`` meanwhile."""
    work = tmp_path_factory.mktemp("hello-plugin")
    source, target = work / "source", work / "site-packages"
    shutil.copytree(PACKAGE, source)  # pip builds in the source tree: keep the checkout clean
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True,
    )
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), old_path]))
    sys.path.insert(0, str(target))
    registry.reload()
    register_envs()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path
        gymnasium.registry.pop(registry.env_id("hello"), None)
        registry.reload()


@pytest.fixture
def shop_client(shop_data_dir: Path) -> Iterator[TestClient]:
    """An in-process client of the shop over a fresh data dir."""
    from webserv.sites.shop.app import create_app

    with TestClient(create_app(shop_data_dir)) as client:
        yield client
