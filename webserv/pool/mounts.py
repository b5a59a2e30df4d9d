"""Bind mounts through mount(2) and umount2(2) (root only), for the docker runtimes' slots.

A system call costs microseconds where running ``mount`` costs a fork and an exec, and a
launch through a pre-started container pays for one bind mount on its critical path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MS_BIND = 4096
MS_SHARED = 1 << 20
MNT_DETACH = 2


def _mount(source: Path | None, target: Path, flags: int) -> None:
    src = os.fsencode(source) if source is not None else None
    if _libc.mount(src, os.fsencode(target), None, flags, None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {source or ''} {target}: {os.strerror(code)}")


def bind(source: Path, target: Path) -> None:
    """Bind-mount the directory ``source`` onto ``target``."""
    _mount(source, target, MS_BIND)


def detach(target: Path) -> None:
    """Unmount ``target`` at once (lazily: freed when the last user lets go). A ``target``
    that is not a mount point is left alone."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise OSError(code, f"umount {target}: {os.strerror(code)}")


def _mountinfo(path: Path) -> list[str] | None:
    """The /proc/self/mountinfo fields of the mount whose mount point is ``path``."""
    target = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            if fields[4].replace("\\040", " ") == target:
                found = fields  # the last one listed is the one on top
    return found


def mounted(path: Path) -> bool:
    """Whether something is mounted at ``path`` (bind mounts included, unlike
    ``os.path.ismount``, which misses a bind mount from the same file system)."""
    return _mountinfo(path) is not None


def ensure_shared(path: Path) -> None:
    """Make ``path`` a mount point with shared propagation (bind-mounting it onto itself if
    needed), so mounts made below it later reach containers that bind it as ``rslave``.

    Processes doing this at once take turns: two binds would stack, the upper one hiding
    whatever was mounted below the first."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fields = _mountinfo(path)
        if fields is None:
            bind(path, path)
            fields = _mountinfo(path)
        optional = fields[6 : fields.index("-")] if fields else []
        if not any(tag.startswith("shared:") for tag in optional):
            _mount(None, path, MS_SHARED)
