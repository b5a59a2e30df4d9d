"""``webserv bench density --live``: memory split by part, and one small run of every browser
build (live envs created, stepped and closed, nothing left running)."""

from __future__ import annotations

import psutil
import pytest
import typer

from benchmarks.density_live import PARTS, SETUPS, pss_by_part, run
from benchmarks.pool_commands import _counts


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
    report = run(levels=[1, 2], compare_at=[1])
    per_env = {row.variant: row for row in report.rows if row.metric == "pss_per_env_mib"}
    maxed = {f"headless-shell{parked}-max@{n}" for parked in ("", "-parked") for n in (1, 2)}
    assert set(per_env) == {f"{name}@1" for name, *_ in SETUPS} | maxed
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
    assert [r.metric for r in report.ratios] == ["pss_per_env_mib"] * 3
    assert {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()} <= before
