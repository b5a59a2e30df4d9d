"""``webserv bench cluster``: the node-count parser and the model alone, then the whole run at
its smallest (1 and 2 local nodes, a few steps) into a temporary results dir: every row and
ratio there with sane values, the lost node's 410s, nothing leaked, nothing left running."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from benchmarks.cluster import (
    LOST_TIMEOUT_S,
    MODEL_HOSTS,
    MODEL_RESERVE_GIB,
    MODEL_ROLLOUTS,
    density_figures,
    model,
    node_counts,
    remodel,
    run,
)
from benchmarks.report import RESULTS_DIR, Report


def test_node_counts_parse_and_refuse_nonsense():
    assert node_counts("3, 1,2,2") == [1, 2, 3]
    for bad in ("", "0,2", "a"):
        with pytest.raises(ValueError):
            node_counts(bad)


def test_the_model_needs_more_nodes_for_more_rollouts_and_fewer_on_bigger_hosts():
    report = Report(benchmark="cluster")
    lines = model(
        report, cpu_s_per_step=0.04, step_s=0.1, ray_node_mib=150, router_cpu_s_per_step=0.003
    )
    rows = [row for row in report.rows if row.metric == "nodes_needed"]
    assert len(rows) == len(lines) - 2
    shop = [row for row in rows if row.extra["site"] == "shop"]
    assert len(shop) == len(MODEL_HOSTS) * len(MODEL_ROLLOUTS)
    # Every other site with a density --live run is modelled beside the shop, from that run.
    sites = set(report.params["model"]["sites"])
    assert {row.extra["site"] for row in rows} == {"shop"} | sites
    for host, *_ in MODEL_HOSTS:
        needed = [report.row(f"model-{host}-{n}", "nodes_needed").p50 for n in MODEL_ROLLOUTS]
        assert needed == sorted(needed) and needed[0] >= 1
    big, small = (host for host, *_ in MODEL_HOSTS)
    for n in MODEL_ROLLOUTS:
        big_row, small_row = (report.row(f"model-{h}-{n}", "nodes_needed") for h in (big, small))
        assert big_row.p50 <= small_row.p50
        assert big_row.extra["nodes_parked"] <= big_row.p50
        assert big_row.extra["router_cores"] == small_row.extra["router_cores"] > 0
    assert report.params["model"]["density_live"]["pages"]["per_env_mib"] > 0


@pytest.mark.cluster
@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.slow
def test_the_stored_run_is_modelled_again_from_the_current_density_figures(tmp_path: Path):
    stored = tmp_path / "cluster.json"
    stored.write_text((RESULTS_DIR / "cluster.json").read_text())
    report = remodel(stored, log=lambda line: None)
    rows = [row for row in report.rows if row.variant.startswith("model-")]
    rows = [row for row in rows if row.extra["site"] == "shop"]
    assert len(rows) == len(MODEL_HOSTS) * len(MODEL_ROLLOUTS)
    figures = density_figures()
    ray_mib = report.params["model"]["ray_node_mib"]
    for host, mem_gib, _ in MODEL_HOSTS:
        row = next(row for row in rows if row.variant.startswith(f"model-{host}-"))
        for mode, fig in figures.items():
            free = (mem_gib - MODEL_RESERVE_GIB) * 1024 - fig["fixed_mib"] - ray_mib
            assert row.extra["envs_per_host_by_memory"][mode] == int(free / fig["per_env_mib"])
    assert report.params["model"]["density_live"] == figures
    assert "derived_at" in report.params["model"]

    report.rows = [row for row in report.rows if not row.variant.startswith("router-")]
    stored.write_text(report.model_dump_json())
    with pytest.raises(ValueError, match="lacks the measurements"):
        remodel(stored, log=lambda line: None)


def test_a_small_run_writes_every_row_and_leaves_nothing(shop_golden: Path, tmp_path: Path):
    pytest.importorskip("ray")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    report = run(
        [1, 2], steps=4, envs_per_node=2, duration_s=3, group_count=2, golden_source=shop_golden
    )
    data = json.loads(report.write(directory=tmp_path).read_text())
    rows = {(row["variant"], row["metric"]): row for row in data["rows"]}

    for n in (1, 2):
        assert rows[(f"router-{n}-nodes", "create_ms")]["n"] == 2 * n
        placed = rows[(f"{n}-nodes", "envs_per_node")]["extra"]
        assert sum(placed["by_node"].values()) == 2 * n and placed["max_over_min"] == 1.0
        for variant in ("router", "direct", "fastpath"):
            step = rows[(f"{variant}-{n}-nodes", "step_ms")]
            assert step["n"] == 4 and 0 < step["p50"] < 10_000
            assert rows[(f"{variant}-{n}-nodes", "overhead_ms")]["p50"] < 1_000
        overhead = rows[(f"router-minus-direct-{n}-nodes", "router_overhead_ms")]
        assert -50 < overhead["p50"] < 100 and "target_met" in overhead["extra"]
        rate = rows[(f"router-{n}-nodes", "steps_per_s")]
        assert rate["p50"] > 0 and rate["extra"]["errors"] == {}
        assert rate["extra"]["node_cpu_s_per_step"] > 0
        assert rows[(f"{n}-nodes", "node_pss_per_env_mib")]["p50"] > 0
    assert rows[("2-nodes", "co_located")]["p50"] == 1.0

    for mode in ("graceful", "kill"):
        for client in ("router", "fastpath"):
            lost = rows[(f"{mode}-{client}", "lost_410_s")]
            assert lost["extra"]["answered_410"], lost
            assert 0 <= lost["p50"] < LOST_TIMEOUT_S
        assert rows[(f"{mode}-other-nodes", "steps_ok")]["p50"] == 1  # the other node's env
        back = rows[(f"{mode}-comeback", "agent_back_s")]
        assert back["p50"] > 0 and back["extra"]["lost_env_answer"].startswith("410")
        leaked = rows[(f"{mode}-comeback", "leaked")]
        assert leaked["p50"] == 0, leaked["extra"]["leftovers"]
    assert rows[("end", "leftover_processes")]["p50"] == 0

    model_rows = [row for row in data["rows"] if row["metric"] == "nodes_needed"]
    shop_rows = [row for row in model_rows if row["extra"]["site"] == "shop"]
    assert len(shop_rows) == len(MODEL_HOSTS) * len(MODEL_ROLLOUTS)
    assert all(row["p50"] >= 1 for row in model_rows)
    compared = {(r["metric"], r["ours"], r["baseline"]) for r in data["ratios"]}
    assert ("overhead_ms", "router-2-nodes", "direct-2-nodes") in compared
    assert ("overhead_ms", "fastpath-2-nodes", "router-2-nodes") in compared
    assert ("steps_per_s", "router-2-nodes", "router-1-nodes") in compared
    assert all(r["ratio"] > 0 for r in data["ratios"])
    assert any(note.startswith("router overhead per step at 2 nodes") for note in data["notes"])
    left = {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()}
    assert left <= before
