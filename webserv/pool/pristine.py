"""Pristine marks: which of a pool's instances were never handed out, so that a restarted
manager may adopt them instead of launching new ones.

A mark is written when an instance is healthy and goes into standby, and removed before it
is handed out (or when it is discarded). No mark means the instance may hold a user's
state, so a restarted manager destroys it: the marks fail closed. A mark names the golden
snapshot (and which making of it) the instance's clone was taken from.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from webserv.pool.backends.base import Instance


class PristineMarks:
    """One small JSON file per pristine instance in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, instance_id: str) -> Path:
        return self.directory / f"{instance_id}.json"

    def mark(self, instance: Instance, golden: str, stamp: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        mark = {"site": instance.site, "golden": golden, "stamp": stamp}
        tmp = self.directory / f".{instance.id}.tmp"
        tmp.write_text(json.dumps(mark))
        tmp.replace(self._path(instance.id))

    def unmark(self, instance_id: str) -> None:
        self._path(instance_id).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # only once no mark is left: no empty dir per dead owner

    def get(self, instance_id: str) -> dict[str, str] | None:
        try:
            mark = json.loads(self._path(instance_id).read_text())
        except (OSError, ValueError):
            return None
        return mark if isinstance(mark, dict) else None

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.json"))
