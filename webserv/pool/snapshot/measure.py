"""Measuring the bytes a clone owns exclusively, per file system mechanism."""

from __future__ import annotations

import array
import fcntl
import os
import struct
import subprocess
from pathlib import Path

_FS_IOC_FIEMAP = 0xC020660B
_FIEMAP_FLAG_SYNC = 0x1
_FIEMAP_EXTENT_LAST = 0x1
_FIEMAP_EXTENT_SHARED = 0x2000
_HEADER = struct.Struct("=QQLLLL")  # fm_start, fm_length, fm_flags, mapped, count, reserved
_EXTENT = struct.Struct("=QQQQQLLLL")  # logical, physical, length, 2 reserved, flags, 3 reserved
_BATCH = 256


def tree_bytes(root: Path) -> int:
    """Bytes allocated on disk by every file under ``root`` (what ``du`` counts)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            total += st.st_blocks * 512
    return total + os.lstat(root).st_blocks * 512


def _unshared_extent_bytes(path: str) -> int:
    """Bytes of ``path``'s extents that no other file shares (FIEMAP, flushed first)."""
    total, start = 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            buf = array.array("B", bytes(_HEADER.size + _EXTENT.size * _BATCH))
            _HEADER.pack_into(buf, 0, start, 2**64 - 1 - start, _FIEMAP_FLAG_SYNC, 0, _BATCH, 0)
            fcntl.ioctl(fd, _FS_IOC_FIEMAP, buf)
            mapped = _HEADER.unpack_from(buf, 0)[3]
            if mapped == 0:
                return total
            for i in range(mapped):
                logical, _, length, _, _, flags, *_ = _EXTENT.unpack_from(
                    buf, _HEADER.size + i * _EXTENT.size
                )
                if not flags & _FIEMAP_EXTENT_SHARED:
                    total += length
                start = logical + length
                if flags & _FIEMAP_EXTENT_LAST:
                    return total
    finally:
        os.close(fd)


def unshared_bytes(root: Path) -> int:
    """Bytes of data extents under ``root`` shared with no other file (reflink clones).

    Uses the FIEMAP ioctl, which reports per extent whether it is shared; works on
    btrfs and XFS. Directory and inode metadata are not counted.
    """
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                total += _unshared_extent_bytes(path)
    return total


def btrfs_exclusive_bytes(root: Path) -> int:
    """Exclusive bytes of a btrfs subvolume or directory, as ``btrfs filesystem du`` reports."""
    subprocess.run(["btrfs", "filesystem", "sync", str(root)], check=True, capture_output=True)
    out = subprocess.run(
        ["btrfs", "filesystem", "du", "-s", "--raw", str(root)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Header "Total Exclusive Set shared Filename", then one line of numbers.
    fields = out.strip().splitlines()[-1].split()
    return int(fields[1])
