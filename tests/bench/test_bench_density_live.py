"""``webserv bench density --live``: memory split by part, and one small run of every browser
build (live envs created, stepped and closed, nothing left running)."""

from __future__ import annotations

import os

import psutil
import pytest
import typer

from benchmarks.density_live import (
    KSM_SETTINGS,
    PARTS,
    SETUPS,
    TO_THE_TARGET,
    pss_by_part,
    run,
    setups_for,
)
from benchmarks.pool_commands import _counts
from webserv import ksm
from webserv.pool.backends.base import OWNER_LABEL
from webserv.pool.backends.docker import docker_client


def test_env_counts_parse_and_refuse_nonsense():
    assert _counts("24, 8,8") == [8, 24]
    for bad in ("", "0,4", "a,b"):
        with pytest.raises(typer.BadParameter):
            _counts(bad)


def test_this_process_counts_as_server():
    parts = pss_by_part()
    assert set(parts) == set(PARTS) and parts["server"] > 0


@pytest.mark.browser
def test_a_small_live_run_measures_every_build_and_cleans_up():
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    host_ksm = {name: (ksm.KSM_DIR / name).read_text() for name in KSM_SETTINGS}
    report = run(levels=[1, 2], compare_at=[1])
    assert {name: (ksm.KSM_DIR / name).read_text() for name in KSM_SETTINGS} == host_ksm
    if report.params["ksm"]["daemon"]:  # merged setups were read after two full scans
        assert report.row("headless-shell@1", "pss_per_env_mib").extra["ksm"]["full_scans"] > 0
        assert (
            "full_scans"
            not in report.row("headless-shell-unmerged@1", "pss_per_env_mib").extra["ksm"]
        )
    per_env = {row.variant: row for row in report.rows if row.metric == "pss_per_env_mib"}
    maxed = {f"{variant}-max@{n}" for variant in TO_THE_TARGET for n in (1, 2)}
    assert set(per_env) == {f"{setup.variant}@1" for setup in SETUPS} | maxed
    for row in per_env.values():
        assert row.extra["healthy"] == row.extra["envs"]
        assert row.extra["pss_mib"]["site"] > 0
        if "parked" not in row.variant:
            assert row.extra["pss_mib"]["renderer"] > 0
    marginal = report.row("headless-shell-max", "marginal_mib")
    assert marginal.extra["between"] == [1, 2] and marginal.p50 > 0
    # Parked envs hold no page: their renderers are gone.
    parked = report.row("headless-shell-parked-max@2", "pss_per_env_mib")
    assert (
        parked.extra["pss_mib"]["renderer"]
        < per_env["headless-shell-max@2"].extra["pss_mib"]["renderer"]
    )
    assert [r.metric for r in report.ratios] == ["pss_per_env_mib"] * 4
    assert {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()} <= before


@pytest.mark.docker
@pytest.mark.browser
def test_a_real_app_site_counts_its_containers_and_the_engine():
    """WordPress on the docker backend: its containers' processes are the site's part, the
    engine's daemons, shims and proxies the engine's; the shop-only setups are skipped."""
    report = run(levels=[1], compare_at=[1], site="wordpress")
    assert report.params["site"] == "wordpress"
    per_env = {row.variant: row for row in report.rows if row.metric == "pss_per_env_mib"}
    assert set(per_env) == {f"{setup.variant}@1" for setup in setups_for("wordpress")}
    assert len(per_env) < len(SETUPS)
    for row in per_env.values():
        assert row.extra["healthy"] == 1
        # A WordPress instance (Apache, PHP and MariaDB) is tens of MiB; the engine runs.
        assert row.extra["pss_mib"]["site"] > 20 and row.extra["pss_mib"]["engine"] > 0
        assert row.extra["cpu_ms_per_step"] > 0
    client = docker_client()
    try:
        owner = f"bench-density-live-{os.getpid()}"
        left = [
            c.name
            for c in client.containers.list(all=True, filters={"label": OWNER_LABEL})
            if c.labels[OWNER_LABEL].startswith(owner)
        ]
    finally:
        client.close()
    assert not left
