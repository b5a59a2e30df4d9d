"""Where webserv keeps state that outlives a process: golden data, clones, images."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The state directory: ``$WEBSERV_HOME``, else ``~/.cache/webserv``."""
    return Path(os.environ.get("WEBSERV_HOME", Path.home() / ".cache" / "webserv"))


def golden_dir(site: str, version: str) -> Path:
    """The golden (seeded, never mutated) data dir of one site version."""
    return home() / "golden" / f"{site}-{version}"
