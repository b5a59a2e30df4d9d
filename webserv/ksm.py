"""Kernel same-page merging (KSM) for the processes webserv starts.

Hundreds of site instances forked from one launcher, and as many Chromium renderers showing
the same site, hold many pages of identical memory that copy-on-write has made private (a
fork writes to every page it touches, if only a reference count that then returns to its old
value). Linux's KSM daemon merges identical anonymous pages of processes marked mergeable;
since Linux 6.4 a process marks all of its memory with ``prctl(PR_SET_MEMORY_MERGE)``, and
the mark passes to the processes it starts (across ``fork`` and ``exec``).

webserv marks only what it starts (site launchers and cold site processes, Playwright's
driver and so the browser): :func:`children_merged` marks this process for the moment it
starts them, so that a trainer running envs in-process is never scanned itself. A site's
containers are the engine's children: each marks itself before its command runs
(:func:`container_marking`). The daemon
is the host's to enable (``echo 1 > /sys/kernel/mm/ksm/run``, as root); without it the mark
costs nothing and merges nothing. Merged pages are shared between envs of one host, which
lets one process time another's writes to them: run envs of mutually distrusting users on
hosts of their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: prctl(2) options (Linux 6.4+).
PR_SET_MEMORY_MERGE = 67
PR_GET_MEMORY_MERGE = 68
#: prctl's system call number by machine (as Docker reports it), for marking from inside a
#: container, where Perl (essential in Debian's images) is what can make the call.
PRCTL_SYSCALL = {"x86_64": 157, "aarch64": 167}
#: The daemon's controls and counters.
KSM_DIR = Path("/sys/kernel/mm/ksm")


def _prctl(option: int, value: int = 0) -> int:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return -1
    return int(libc.prctl(option, value, 0, 0, 0))


def supported() -> bool:
    """Whether this kernel lets a process mark all its memory mergeable."""
    return _prctl(PR_GET_MEMORY_MERGE) >= 0


def daemon_running() -> bool:
    """Whether the host's KSM daemon is merging pages (``/sys/kernel/mm/ksm/run`` is 1)."""
    try:
        return (KSM_DIR / "run").read_text().strip() == "1"
    except OSError:
        return False


def stats() -> dict[str, int]:
    """The daemon's counters: pages it keeps (``pages_shared``), the pages that share them
    (``pages_sharing``: the memory saved, in pages) and its completed scans; empty without KSM."""
    counters = ("pages_shared", "pages_sharing", "full_scans")
    try:
        return {name: int((KSM_DIR / name).read_text()) for name in counters}
    except (OSError, ValueError):
        return {}


def container_marking(machine: str) -> tuple[list[str], list[str]] | None:
    """For a container on ``machine``: the argv prefix that marks its processes before it
    runs its own command (``perl -e MARK --`` then that command, which stays PID 1), and a
    probe argv that exits 0 where its image can do so; None where the call is unknown."""
    number = PRCTL_SYSCALL.get(machine)
    if number is None:
        return None
    mark = (
        f"syscall({number}, {PR_SET_MEMORY_MERGE}, 1, 0, 0, 0) == 0 "
        'or warn "webserv: memory not marked mergeable: $!\\n"; '
        'exec { $ARGV[0] } @ARGV or die "webserv: exec $ARGV[0]: $!\\n"'
    )
    probe = f"exit(syscall({number}, {PR_GET_MEMORY_MERGE}, 0, 0, 0, 0) < 0 ? 1 : 0)"
    return ["perl", "-e", mark, "--"], ["perl", "-e", probe]


#: Blocks of :func:`children_merged` open now (they may overlap: a runtime starts its sites
#: and its browser at once), and the lock that guards the count.
_open = 0
_open_lock = threading.Lock()


@contextmanager
def children_merged(enabled: bool = True) -> Iterator[bool]:
    """Processes started inside the block, and all they start, have their memory marked
    mergeable; yields whether they are (False where the kernel cannot, or not ``enabled``).
    This process is marked only while a block is open (unless it was marked before)."""
    global _open
    if not enabled or not supported():
        yield False
        return
    with _open_lock:
        if _open == 0 and _prctl(PR_GET_MEMORY_MERGE) == 1:
            counted = False  # marked before webserv asked: left as it is
        elif _open == 0 and _prctl(PR_SET_MEMORY_MERGE, 1) != 0:
            counted = None  # the kernel refused
        else:
            counted = True
            _open += 1
    if counted is None:
        yield False
        return
    try:
        yield True
    finally:
        if counted:
            with _open_lock:
                _open -= 1
                if _open == 0:
                    _prctl(PR_SET_MEMORY_MERGE, 0)
