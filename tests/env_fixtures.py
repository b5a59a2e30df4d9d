"""Fixtures for the env and suite tests: the shop suite's golden data, seeded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from webserv.env.runtime import RuntimeConfig
from webserv.tasks.suite import load_suite


@pytest.fixture(scope="session")
def suite_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir seeded exactly as the shop suite's manifest says (never mutate it)."""
    from webserv.sites.shop.seed import seed

    manifest = load_suite("shop").manifest
    out = tmp_path_factory.mktemp("suite-golden") / "data"
    seed(out, seed=manifest.seed, scale=manifest.scale)
    return out


@pytest.fixture(scope="session")
def runtime_config(suite_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> RuntimeConfig:
    """A runtime over that golden data, with its snapshots in a temporary store."""
    manifest = load_suite("shop").manifest
    return RuntimeConfig(
        seed=manifest.seed,
        scale=manifest.scale,
        standby=2,
        max_instances=6,
        snapshot_root=tmp_path_factory.mktemp("env-snapshots"),
        snapshot_driver="copy",
        golden_source=suite_golden,
    )
