"""The one JSON shape every benchmark writes, and the statistics behind it.

```
{"benchmark": "reset", "params": {...}, "machine": {"cpus": 2, "mem_gib": 24},
 "rows":   [{"variant": "standby", "metric": "handover_ms", "p50": 12.1, "p95": 19.0, "n": 50}],
 "ratios": [{"metric": "launch_ms", "ours": "btrfs", "baseline": "full-copy", "ratio": 7.4}]}
```

A ratio is always how many times better ours is: baseline / ours for costs (latencies,
bytes, tokens), ours / baseline for goods (``healthy_instances``, ``steps_per_s``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import typer
from pydantic import BaseModel, Field

from webserv.stats import percentile

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Metrics where larger is better; every other metric is a cost.
HIGHER_IS_BETTER = frozenset({"healthy_instances", "steps_per_s"})


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Row(BaseModel):
    variant: str
    metric: str
    p50: float
    p95: float
    n: int
    mean: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class Ratio(BaseModel):
    metric: str
    ours: str
    baseline: str
    ratio: float


class Report(BaseModel):
    benchmark: str
    params: dict[str, Any] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)
    started_at: str = Field(default_factory=_utc_now)
    rows: list[Row] = Field(default_factory=list)
    ratios: list[Ratio] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def add(self, variant: str, metric: str, samples: Iterable[float], **extra: Any) -> Row:
        """Summarise one sample (p50, p95, n, mean) as a row."""
        data = [float(v) for v in samples]
        row = Row(
            variant=variant,
            metric=metric,
            p50=round(percentile(data, 50), 3),
            p95=round(percentile(data, 95), 3),
            n=len(data),
            mean=round(statistics.fmean(data), 3),
            extra=extra,
        )
        self.rows.append(row)
        return row

    def row(self, variant: str, metric: str) -> Row:
        for row in self.rows:
            if row.variant == variant and row.metric == metric:
                return row
        raise KeyError(f"no row {variant}/{metric}")

    def compare(self, metric: str, ours: str, baseline: str) -> Ratio:
        """Add the ratio of two variants' medians, oriented so that > 1 means ours is better."""
        mine, theirs = self.row(ours, metric).p50, self.row(baseline, metric).p50
        if metric in HIGHER_IS_BETTER:
            value = mine / theirs if theirs else float("inf")
        else:
            value = theirs / mine if mine else float("inf")
        ratio = Ratio(metric=metric, ours=ours, baseline=baseline, ratio=round(value, 2))
        self.ratios.append(ratio)
        return ratio

    def write(self, name: str | None = None, directory: Path = RESULTS_DIR) -> Path:
        """Write the report as ``<directory>/<name or benchmark>.json`` and return the path."""
        self.machine = self.machine or machine_info()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name or self.benchmark}.json"
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path

    def to_json(self) -> str:
        self.machine = self.machine or machine_info()
        return json.dumps(self.model_dump(), indent=2)


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def emit(report: Report, as_json: bool, name: str | None = None) -> None:
    """Write the report under ``benchmarks/results/`` and print it (as JSON, or one line per
    row, ratio and note)."""
    path = report.write(name)
    if as_json:
        typer.echo(report.to_json())
        return
    for row in report.rows:
        typer.echo(
            f"{row.variant:>32} {row.metric:<18} p50 {row.p50:>14,.1f}  p95 {row.p95:>14,.1f}"
            f"  n {row.n}"
        )
    for ratio in report.ratios:
        typer.echo(f"{ratio.metric}: {ratio.ours} is {ratio.ratio}x better than {ratio.baseline}")
    for note in report.notes:
        typer.echo(note)
    typer.echo(f"written to {path}")
