"""The scripts this package runs in pages, each a ``.js`` file beside it."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def script(name: str) -> str:
    """The ``.js`` file ``name`` of this package without its leading ``//`` comment lines, so
    that a file holding one function expression can be passed to ``evaluate`` as it is."""
    text = resources.files(__package__).joinpath(name).read_text()
    lines = text.splitlines()
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return "\n".join(lines).strip()
