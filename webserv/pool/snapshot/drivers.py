"""Snapshot drivers: how a golden data dir is stored and how an instance's clone is made.

Fastest first: ``btrfs`` (subvolume snapshot), ``reflink`` (``cp --reflink=always``, btrfs or
XFS), ``overlay`` (overlayfs with a private upper dir; needs root), ``copy`` (a full copy, the
baseline). Each clone lives in its own directory ``<clones>/<id>``; ``data_dir`` says where
the site's data is inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from webserv.pool.snapshot.measure import btrfs_exclusive_bytes, tree_bytes, unshared_bytes


def _run(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def filesystem_type(path: Path) -> str:
    """The file system type of the mount holding ``path`` (from ``/proc/self/mounts``)."""
    target = os.path.realpath(path)
    best, fstype = "", "unknown"
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, mountpoint, kind, *_ = line.split()
            mountpoint = mountpoint.replace("\\040", " ")
            inside = target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")
            if inside and len(mountpoint) >= len(best):
                best, fstype = mountpoint, kind
    return fstype


class Driver:
    """A way to make golden copies and clones; subclasses fill in the mechanism."""

    name: ClassVar[str]

    @classmethod
    def supported(cls, root: Path) -> bool:
        """Whether this driver works for a store rooted at ``root``."""
        raise NotImplementedError

    def make_golden(self, source: Path, dest: Path) -> None:
        """Store a copy of ``source`` as the golden dir ``dest`` (which does not exist yet)."""
        _run("cp", "-a", "--reflink=auto", f"{source}/.", str(self._mkdir(dest)))

    def remove_golden(self, golden: Path) -> None:
        shutil.rmtree(golden)

    def clone(self, golden: Path, dest: Path) -> None:
        """Make ``dest`` a clone of ``golden``."""
        raise NotImplementedError

    def data_dir(self, clone: Path) -> Path:
        """Where the site's data dir is inside a clone."""
        return clone

    def destroy(self, clone: Path) -> None:
        shutil.rmtree(clone, ignore_errors=True)

    def exclusive_bytes(self, clone: Path) -> int:
        """Bytes the clone owns exclusively, measured on disk."""
        raise NotImplementedError

    @staticmethod
    def _mkdir(path: Path) -> Path:
        path.mkdir(parents=True)
        return path


class BtrfsDriver(Driver):
    """Golden = read-only subvolume; clone = writable snapshot of it (O(1), block-level CoW)."""

    name = "btrfs"

    @classmethod
    def supported(cls, root: Path) -> bool:
        return filesystem_type(root) == "btrfs" and shutil.which("btrfs") is not None

    def make_golden(self, source: Path, dest: Path) -> None:
        _run("btrfs", "subvolume", "create", str(dest))
        _run("cp", "-a", "--reflink=auto", f"{source}/.", str(dest))
        _run("btrfs", "property", "set", "-ts", str(dest), "ro", "true")

    def remove_golden(self, golden: Path) -> None:
        _run("btrfs", "property", "set", "-ts", str(golden), "ro", "false")
        _run("btrfs", "subvolume", "delete", str(golden))

    def clone(self, golden: Path, dest: Path) -> None:
        _run("btrfs", "subvolume", "snapshot", str(golden), str(dest))

    def destroy(self, clone: Path) -> None:
        if clone.exists():
            _run("btrfs", "subvolume", "delete", str(clone))

    def exclusive_bytes(self, clone: Path) -> int:
        return btrfs_exclusive_bytes(clone)


class ReflinkDriver(Driver):
    """Clone = ``cp --reflink=always``: files share extents until written (btrfs, XFS)."""

    name = "reflink"

    @classmethod
    def supported(cls, root: Path) -> bool:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            probe = Path(tmp) / "probe"
            probe.write_bytes(b"x" * 4096)
            result = subprocess.run(
                ["cp", "--reflink=always", str(probe), str(probe) + ".clone"], capture_output=True
            )
            return result.returncode == 0

    def clone(self, golden: Path, dest: Path) -> None:
        _run("cp", "-a", "--reflink=always", str(golden), str(dest))

    def exclusive_bytes(self, clone: Path) -> int:
        return unshared_bytes(clone)


class OverlayDriver(Driver):
    """Clone = overlayfs mount with the golden dir as the lower layer and a private upper dir.

    Writes copy a whole file up on first open for writing, so a database file is copied
    in full as soon as an instance opens it read-write. Where the upper dir's file system
    can clone file ranges (btrfs, XFS) and holds the golden too, the kernel makes that copy
    a reflink: the copied-up file shares its extents with the golden until written, so what
    the clone owns is measured per extent, as for the reflink driver. Elsewhere (ext4) every
    extent of a copied-up file is its own and counts in full.
    """

    name = "overlay"

    @classmethod
    def supported(cls, root: Path) -> bool:
        if os.geteuid() != 0:
            return False
        with open("/proc/filesystems") as fs:
            if not any(line.split()[-1] == "overlay" for line in fs if line.strip()):
                return False
        # Root may still be refused mounts (inside a container, say): try one.
        root.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=".overlay-probe-", dir=root))
        try:
            parts = [probe / part for part in ("lower", "upper", "work", "merged")]
            for part in parts:
                part.mkdir()
            lower, upper, work, merged = parts
            options = f"lowerdir={lower},upperdir={upper},workdir={work}"
            _run("mount", "-t", "overlay", "overlay", "-o", options, str(merged))
            _run("umount", str(merged))
            return True
        except OSError:
            return False
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    def clone(self, golden: Path, dest: Path) -> None:
        upper, work, merged = (self._mkdir(dest / part) for part in ("upper", "work", "merged"))
        options = f"lowerdir={golden},upperdir={upper},workdir={work}"
        try:
            _run("mount", "-t", "overlay", "overlay", "-o", options, str(merged))
        except OSError:
            shutil.rmtree(dest, ignore_errors=True)
            raise

    def data_dir(self, clone: Path) -> Path:
        return clone / "merged"

    def destroy(self, clone: Path) -> None:
        merged = clone / "merged"
        if os.path.ismount(merged):
            try:
                _run("umount", str(merged))
            except OSError:
                # Still held open by a process being torn down: detach now, freed when closed.
                _run("umount", "--lazy", str(merged))
        shutil.rmtree(clone, ignore_errors=True)

    def exclusive_bytes(self, clone: Path) -> int:
        return unshared_bytes(clone / "upper") + unshared_bytes(clone / "work")


class CopyDriver(Driver):
    """Clone = a full, independent copy: the baseline every other driver is compared to."""

    name = "copy"

    @classmethod
    def supported(cls, root: Path) -> bool:
        return True

    def make_golden(self, source: Path, dest: Path) -> None:
        _run("cp", "-a", "--reflink=never", f"{source}/.", str(self._mkdir(dest)))

    def clone(self, golden: Path, dest: Path) -> None:
        _run("cp", "-a", "--reflink=never", str(golden), str(dest))

    def exclusive_bytes(self, clone: Path) -> int:
        return tree_bytes(clone)


#: Every driver, fastest first (the auto-detection order).
DRIVERS: dict[str, type[Driver]] = {
    cls.name: cls for cls in (BtrfsDriver, ReflinkDriver, OverlayDriver, CopyDriver)
}


def detect_driver(root: Path) -> str:
    """The fastest driver that works for a store at ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return next(name for name, cls in DRIVERS.items() if cls.supported(root))
