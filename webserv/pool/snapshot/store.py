"""SnapshotStore: golden data dirs and per-instance clones under one root, one driver."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from webserv import paths
from webserv.pool.snapshot.drivers import DRIVERS, Driver, detect_driver, filesystem_type

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SnapshotError(RuntimeError):
    """A snapshot operation was asked for something that does not exist or cannot be."""


def default_root() -> Path:
    """``$WEBSERV_SNAPSHOT_ROOT``; else the btrfs mount of ``scripts/services.sh`` if mounted;
    else ``<webserv home>/snapshots``."""
    if explicit := os.environ.get("WEBSERV_SNAPSHOT_ROOT"):
        return Path(explicit)
    btrfs = Path(os.environ.get("WEBSERV_BTRFS_ROOT", "/mnt/webserv-btrfs"))
    if os.path.ismount(btrfs) and filesystem_type(btrfs) == "btrfs":
        return btrfs / "webserv"
    return paths.home() / "snapshots"


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise SnapshotError(f"invalid snapshot name {name!r}: use letters, digits, '.', '_', '-'")
    return name


class SnapshotStore:
    """Golden copies and clones: ``<root>/<driver>/golden/<name>``, ``<root>/<driver>/clones/<id>``.

    ``driver`` is one of ``btrfs``, ``reflink``, ``overlay``, ``copy``; ``None`` picks the
    fastest that the file system of ``root`` supports. Methods are blocking (they run file
    system commands); async callers run them in a thread.
    """

    def __init__(self, root: Path | None = None, driver: str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        name = driver or detect_driver(self.root)
        if name not in DRIVERS:
            raise SnapshotError(f"unknown snapshot driver {name!r}; choose from {list(DRIVERS)}")
        if not DRIVERS[name].supported(self.root):
            kind = filesystem_type(self.root)
            raise SnapshotError(f"driver {name!r} does not work at {self.root} ({kind})")
        self.driver: Driver = DRIVERS[name]()
        self.base = self.root / name
        (self.base / "golden").mkdir(parents=True, exist_ok=True)
        (self.base / "clones").mkdir(parents=True, exist_ok=True)

    def golden_path(self, name: str) -> Path:
        return self.base / "golden" / _checked(name)

    def has_golden(self, name: str) -> bool:
        return self.golden_path(name).exists()

    def create_golden(self, name: str, source: Path, replace: bool = False) -> Path:
        """Store the seeded data dir ``source`` as golden ``name``; it is never written again."""
        source = Path(source)
        if not source.is_dir():
            raise SnapshotError(f"golden source {source} is not a directory")
        dest = self.golden_path(name)
        if dest.exists():
            if not replace:
                raise SnapshotError(f"golden {name!r} already exists at {dest}")
            self.driver.remove_golden(dest)
        staging = dest.with_name(f".staging-{name}")
        if staging.exists():
            self.driver.remove_golden(staging)
        self.driver.make_golden(source, staging)
        staging.rename(dest)
        return dest

    def golden_stamp(self, name: str) -> str:
        """Identifies one making of golden ``name``: it changes when the golden is replaced
        (made anew and renamed into place), so clones of an older one can be told apart."""
        return str(self.golden_path(name).stat().st_ctime_ns)

    def remove_golden(self, name: str) -> None:
        dest = self.golden_path(name)
        if dest.exists():
            self.driver.remove_golden(dest)

    def clone_path(self, clone_id: str) -> Path:
        return self.base / "clones" / _checked(clone_id)

    def clone(self, golden: str, clone_id: str) -> Path:
        """Make clone ``clone_id`` of golden ``golden``; return the clone's data dir."""
        source = self.golden_path(golden)
        if not source.exists():
            raise SnapshotError(f"no golden snapshot {golden!r} in {self.base / 'golden'}")
        dest = self.clone_path(clone_id)
        if dest.exists():
            raise SnapshotError(f"clone {clone_id!r} already exists")
        self.driver.clone(source, dest)
        return self.driver.data_dir(dest)

    def data_dir(self, clone_id: str) -> Path:
        return self.driver.data_dir(self.clone_path(clone_id))

    def destroy(self, clone_id: str) -> None:
        """Remove a clone and everything it wrote. Idempotent."""
        self.driver.destroy(self.clone_path(clone_id))

    def clones(self) -> list[str]:
        clones = self.base / "clones"
        return sorted(p.name for p in clones.iterdir()) if clones.is_dir() else []

    def exclusive_bytes(self, clone_id: str) -> int:
        """Bytes on disk that only this clone uses (measured by the driver's mechanism)."""
        path = self.clone_path(clone_id)
        if not path.exists():
            raise SnapshotError(f"no clone {clone_id!r}")
        return self.driver.exclusive_bytes(path)

    def golden_bytes(self, name: str) -> int:
        """Size of a golden dir as a full copy would take it (apparent size of its files)."""
        total = 0
        for dirpath, _, filenames in os.walk(self.golden_path(name)):
            total += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in filenames)
        return total

    def wipe(self) -> None:
        """Destroy every clone and golden copy of this driver (tests and benchmarks)."""
        for clone_id in self.clones():
            self.destroy(clone_id)
        goldens = self.base / "golden"
        for golden in goldens.iterdir() if goldens.is_dir() else []:
            self.driver.remove_golden(golden)
        shutil.rmtree(self.base, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only if no other driver's data is left in it
