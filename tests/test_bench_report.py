from benchmarks.report import Report
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
