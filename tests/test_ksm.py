"""Marking the processes webserv starts for the kernel's same-page merging, and only them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from webserv import ksm

pytestmark = pytest.mark.skipif(not ksm.supported(), reason="no PR_SET_MEMORY_MERGE (Linux < 6.4)")


def merge_any(pid: int | str) -> bool:
    """Whether the process has all its memory marked mergeable (its ``ksm_stat``)."""
    stat = Path(f"/proc/{pid}/ksm_stat").read_text()
    return "ksm_merge_any: yes" in stat


def test_processes_started_inside_are_marked_and_this_one_is_not_after():
    with ksm.children_merged() as marked:
        child = subprocess.Popen(["sleep", "5"])
    try:
        assert marked and merge_any(child.pid)
        assert not merge_any("self")
    finally:
        child.kill()
        child.wait()


def test_nothing_is_marked_when_merging_is_off():
    with ksm.children_merged(enabled=False) as marked:
        child = subprocess.Popen(["sleep", "5"])
    try:
        assert not marked and not merge_any(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_process_marked_already_stays_marked():
    assert ksm._prctl(ksm.PR_SET_MEMORY_MERGE, 1) == 0
    try:
        with ksm.children_merged():
            pass
        assert merge_any("self")
    finally:
        ksm._prctl(ksm.PR_SET_MEMORY_MERGE, 0)
    assert not merge_any("self")


def test_overlapping_blocks_keep_the_mark_until_the_last_one_ends():
    outer = ksm.children_merged()
    inner = ksm.children_merged()
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # the first to end is not the last
    try:
        child = subprocess.Popen(["sleep", "5"])
        assert merge_any(child.pid)
    finally:
        inner.__exit__(None, None, None)
        child.kill()
        child.wait()
    assert not merge_any("self")
