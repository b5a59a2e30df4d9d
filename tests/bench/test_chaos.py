"""One round of the chaos run: a client, an instance, Chromium, the server and Redis killed
mid-episode; no undocumented answer, no step lost or applied twice, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos import COUNTERS, FAULTS, run

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def test_one_fault_of_each_kind_leaves_every_counter_at_zero(shop_golden: Path):
    report = run(rounds=1, golden_source=shop_golden, log=lambda line: None)

    counted = {row.variant: row.extra for row in report.rows}
    for fault in FAULTS:
        assert counted[fault]["injections"] == 1
        assert {name: counted[fault][name] for name in COUNTERS} == dict.fromkeys(COUNTERS, 0), (
            report.notes
        )
    # The faults were felt, and answered as documented.
    assert counted["server"]["answers"]["410 env_gone"] == 2
    assert counted["redis"]["answers"]["503 store_unavailable"] >= 2
    assert counted["client"]["answers"]["410 env_gone"] == 1
    leftovers = ("instances", "processes", "clones", "mounts", "redis_keys")
    assert {name: counted["end"][name] for name in leftovers} == dict.fromkeys(leftovers, 0), (
        report.notes
    )
