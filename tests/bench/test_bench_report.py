import json

import pytest

from benchmarks.report import Report
from webserv.sites.registry import get as get_site
from webserv.stats import percentile


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([10], 95) == 10
    assert percentile([0, 10], 95) == 9.5


def test_ratio_orientation_for_costs_and_goods(tmp_path):
    report = Report(benchmark="demo")
    report.add("ours", "launch_ms", [10, 10, 10])
    report.add("baseline", "launch_ms", [70, 70, 70])
    report.add("ours", "steps_per_s", [30])
    report.add("baseline", "steps_per_s", [10])
    assert report.compare("launch_ms", "ours", "baseline").ratio == 7.0
    assert report.compare("steps_per_s", "ours", "baseline").ratio == 3.0
    path = report.write(directory=tmp_path)
    assert '"benchmark": "demo"' in path.read_text()


def test_results_of_another_site_or_size_are_named_after_it(tmp_path):
    from benchmarks.pool_commands import _name
    from benchmarks.pool_setup import Golden

    shop, shopping = get_site("shop"), get_site("shopping")
    default = Golden(shop, shop.golden_name(), tmp_path)
    small = Golden(shop, shop.golden_name({"scale": 0.02}), tmp_path)
    exported = Golden(shopping, shopping.golden_name(), tmp_path)
    assert _name("launch", "process", default, "-cold-cache") == "launch-process-cold-cache"
    assert _name("launch", "docker", small) == "launch-docker-scale0.02"
    assert _name("reset", "docker", exported) == "reset-docker-shopping"


def test_bench_golden_refuses_a_backend_the_site_lacks(tmp_path):
    from benchmarks.pool_setup import bench_golden

    with pytest.raises(ValueError, match="runs on docker, url, not on process"):
        bench_golden("shopping", "process", root=tmp_path)


def test_bench_golden_of_an_exported_site_is_the_stored_one(tmp_path):
    from benchmarks.pool_setup import bench_golden
    from webserv.pool.golden import store_golden
    from webserv.pool.snapshot import SnapshotStore
    from webserv.sites import registry
    from webserv.sites.plugin import GoldenUnavailable

    with pytest.raises(GoldenUnavailable, match="export it once"):
        bench_golden("shopping", "docker", root=tmp_path)
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "ibdata1").write_bytes(b"rows")
    store_golden(SnapshotStore(tmp_path), registry.get("shopping"), exported)
    golden = bench_golden("shopping", "docker", root=tmp_path)
    assert golden.name == registry.get("shopping").golden_name()
    assert (golden.source / "ibdata1").read_bytes() == b"rows"


def test_bench_golden_names_a_data_dir_by_what_seeded_it(tmp_path):
    from benchmarks.pool_setup import bench_golden
    from webserv.pool.golden import RECIPE_FILE
    from webserv.sites import registry

    (tmp_path / RECIPE_FILE).write_text(json.dumps({"site": "shop", "params": {"scale": 0.05}}))
    golden = bench_golden("shop", "process", data_dir=tmp_path)
    assert golden.name == registry.get("shop").golden_name({"scale": 0.05})
    assert golden.source == tmp_path


def test_soak_counts_instances_over_every_pool():
    from benchmarks.soak import known_instances, site_count

    def pool(site: str, leased: int, ids: list[str]) -> dict:
        counts = {"standby": 0, "standby_target": 1, "leased": leased, "launching": 0}
        return {"sites": {site: counts}, "instances": [{"id": i} for i in ids]}

    answer = {"pools": [pool("shop", 1, ["a", "b"]), pool("shopping", 2, ["c"])]}
    assert known_instances(answer) == {"a", "b", "c"}
    assert site_count(answer, "leased") == 3
