"""Where webserv keeps state that outlives a process: golden data, clones, images."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The state directory: ``$WEBSERV_HOME``, else ``~/.cache/webserv``."""
    return Path(os.environ.get("WEBSERV_HOME", Path.home() / ".cache" / "webserv"))
