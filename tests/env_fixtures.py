"""Fixtures for the env and suite tests: a runtime over the shop suite's golden data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.env.runtime import EnvRuntime
from webserv.tasks.suite import Suite, load_suite


def suite_params() -> dict:
    """The shop golden data parameters the shop suite was generated from."""
    return load_suite("shop").manifest.golden["shop"]


@pytest.fixture(scope="session")
def runtime_config(shop_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> RuntimeConfig:
    """A runtime over that golden data, with its snapshots in a temporary store."""
    shop = SiteConfig(name="shop", golden=suite_params(), standby=2, golden_source=shop_golden)
    return RuntimeConfig(
        sites=[shop],
        max_instances=6,
        snapshot_root=tmp_path_factory.mktemp("env-snapshots"),
        snapshot_driver="copy",
    )


@pytest.fixture(scope="module")
def suite() -> Suite:
    """The shop suite."""
    return load_suite("shop")


@pytest_asyncio.fixture(scope="module")
async def runtime(runtime_config: RuntimeConfig) -> AsyncIterator[EnvRuntime]:
    """A started runtime over the suite's golden data, for one test module."""
    async with EnvRuntime(runtime_config) as started:
        yield started
