"""Snapshot drivers: golden copies, clones, isolation, measured exclusive bytes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_fixtures import BTRFS_ROOT, needs_btrfs

from webserv.pool.snapshot import SnapshotError, SnapshotStore, detect_driver

DRIVERS = [
    pytest.param("btrfs", marks=[pytest.mark.btrfs, needs_btrfs]),
    pytest.param("reflink", marks=[pytest.mark.btrfs, needs_btrfs]),
    pytest.param("overlay", marks=pytest.mark.skipif(os.geteuid() != 0, reason="needs root")),
    pytest.param("copy"),
]


@pytest.fixture
def store_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A btrfs directory for the btrfs-based drivers, else a temporary directory; wiped after."""
    driver = request.node.callspec.params["driver"]
    unique = f"tests-{uuid.uuid4().hex[:12]}"
    root = BTRFS_ROOT / unique if driver in ("btrfs", "reflink") else tmp_path
    yield root
    SnapshotStore(root, driver).wipe()
    shutil.rmtree(root, ignore_errors=True)


def _sessions(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'shop.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_clone_writes_stay_in_the_clone(driver: str, store_root: Path, shop_golden: Path):
    store = SnapshotStore(store_root, driver)
    golden = store.create_golden("shop-1", shop_golden)
    first, second = store.clone("shop-1", "a"), store.clone("shop-1", "b")
    assert (first / "shop.db").read_bytes() == (golden / "shop.db").read_bytes()

    conn = sqlite3.connect(first / "shop.db")
    with conn:
        conn.execute(
            "INSERT INTO sessions (token, admin_id, created_at, expires_at)"
            " SELECT 'token', min(id), '2026-01-01', '2027-01-01' FROM admins"
        )
    conn.close()
    (first / "media" / "new.bin").write_bytes(os.urandom(1 << 20))

    assert _sessions(first) == _sessions(golden) + 1
    assert _sessions(second) == _sessions(golden)
    assert not (golden / "media" / "new.bin").exists()
    assert not (second / "media" / "new.bin").exists()

    written, untouched = store.exclusive_bytes("a"), store.exclusive_bytes("b")
    full = store.golden_bytes("shop-1")
    assert written >= 1 << 20  # the new file is owned by the clone alone
    if driver == "copy":
        assert untouched >= full
    else:
        assert untouched < full / 10
    assert sorted(store.clones()) == ["a", "b"]
    store.destroy("a")
    store.destroy("a")  # idempotent
    assert store.clones() == ["b"]
    assert _sessions(golden) == _sessions(second)


@needs_btrfs
@pytest.mark.btrfs
def test_detects_btrfs_and_falls_back(tmp_path: Path):
    assert detect_driver(BTRFS_ROOT) == "btrfs"
    expected = "overlay" if os.geteuid() == 0 else "copy"
    assert detect_driver(tmp_path) in (expected, "reflink")


def test_bad_requests_are_clear_errors(tmp_path: Path, shop_golden: Path):
    store = SnapshotStore(tmp_path, "copy")
    with pytest.raises(SnapshotError, match="no golden snapshot"):
        store.clone("missing", "x")
    with pytest.raises(SnapshotError, match="invalid snapshot name"):
        store.clone("../escape", "x")
    with pytest.raises(SnapshotError, match="unknown snapshot driver"):
        SnapshotStore(tmp_path, "zfs")
    store.create_golden("g", shop_golden)
    with pytest.raises(SnapshotError, match="already exists"):
        store.create_golden("g", shop_golden)
    store.clone("g", "c")
    with pytest.raises(SnapshotError, match="already exists"):
        store.clone("g", "c")
    with pytest.raises(SnapshotError, match="no clone"):
        store.exclusive_bytes("nope")


@pytest.mark.btrfs
@needs_btrfs
@pytest.mark.skipif(os.geteuid() != 0, reason="overlay needs root")
def test_overlay_copy_up_on_btrfs_shares_the_golden_extents(shop_golden: Path):
    root = BTRFS_ROOT / f"tests-{uuid.uuid4().hex[:12]}"
    store = SnapshotStore(root, "overlay")
    try:
        store.create_golden("shop-1", shop_golden)
        data = store.clone("shop-1", "a")
        conn = sqlite3.connect(data / "shop.db")
        with conn:
            conn.execute("CREATE TABLE scratch (x)")
        conn.close()
        copied = store.clone_path("a") / "upper" / "shop.db"
        assert copied.stat().st_size >= (shop_golden / "shop.db").stat().st_size
        # The kernel cloned the file up: only the pages written since are the clone's own.
        assert 0 < store.exclusive_bytes("a") < copied.stat().st_size / 4
    finally:
        store.wipe()
        shutil.rmtree(root, ignore_errors=True)
