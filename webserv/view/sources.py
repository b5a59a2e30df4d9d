"""What the viewer shows from one directory, and the only files it reads there.

Under the directory it was given (the root) the viewer finds, by their files:

- **runs**: a directory with ``episodes.jsonl`` or ``steps.jsonl`` (a rollout's run
  directory, an OPeRA import);
- **evaluations**: a directory with ``predictions.jsonl`` and ``summary.json``
  (``webserv behaviour eval``);
- **suite reports**: a ``.json`` file that begins as a suite report does
  (``webserv suite run --out``).

Every file it reads is checked to lie inside the root once symbolic links are resolved
(:func:`inside`), so neither a path in a request (``..``, encoded or not) nor a link in the
tree nor a path written in a record reaches anything else.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SourceKind = Literal["run", "eval", "suite"]

#: Directories not looked into: screenshots (thousands of files, nothing to find), caches,
#: virtualenvs; hidden ones neither.
SKIPPED_DIRS = frozenset({"screenshots", "node_modules", "__pycache__", "venv", "site-packages"})
#: How deep below the root, and through how many directories at most, records are looked for.
MAX_DEPTH = 4
MAX_DIRS = 5_000
#: Files served as they are: images (screenshots, distribution plots), by suffix.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
#: A suite report is the JSON of a SuiteReport: its first field is ``suite``.
_SUITE_REPORT_HEAD = re.compile(rb'\A\s*\{\s*"suite"\s*:')


class OutsideRoot(ValueError):
    """A path that is not a file inside the viewer's root."""


class NotFound(LookupError):
    """Nothing of that name under the root (a source, an episode, a file)."""


@dataclass(frozen=True)
class Source:
    """One run directory, evaluation directory or suite report under the root."""

    kind: SourceKind
    rel: str  # relative to the root, "/"-separated; "." is the root itself
    path: Path

    @property
    def id(self) -> str:
        """A short id for URLs (a record's ids may hold any character; this does not)."""
        return hashlib.sha1(f"{self.kind}:{self.rel}".encode()).hexdigest()[:10]

    @property
    def title(self) -> str:
        return self.rel if self.rel != "." else self.path.name


def inside(root: Path, path: Path) -> Path:
    """``path`` (absolute, or relative to ``root``) resolved, if it is an existing file inside
    ``root`` (itself resolved); :class:`OutsideRoot` otherwise."""
    try:
        resolved = (root / path).resolve(strict=True)
    except (OSError, RuntimeError) as err:  # missing, or a loop of links
        raise OutsideRoot(f"{path}: no such file") from err
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise OutsideRoot(f"{path}: not a file inside {root}")
    return resolved


def _has(root: Path, directory: Path, name: str) -> bool:
    try:
        inside(root, directory / name)
    except OutsideRoot:
        return False
    return True


def _is_suite_report(root: Path, path: Path) -> bool:
    try:
        with inside(root, path).open("rb") as file:
            return bool(_SUITE_REPORT_HEAD.match(file.read(256)))
    except (OutsideRoot, OSError):
        return False


def _sources_in(root: Path, directory: Path, files: list[str]) -> list[Source]:
    rel = directory.relative_to(root).as_posix()
    found: list[Source] = []
    if _has(root, directory, "episodes.jsonl") or _has(root, directory, "steps.jsonl"):
        found.append(Source("run", rel, directory))
    if _has(root, directory, "predictions.jsonl") and _has(root, directory, "summary.json"):
        found.append(Source("eval", rel, directory))
    for name in sorted(files):
        path = directory / name
        if name.endswith(".json") and name != "summary.json" and _is_suite_report(root, path):
            found.append(Source("suite", path.relative_to(root).as_posix(), path))
    return found


def discover(root: Path) -> list[Source]:
    """The sources under ``root`` (resolved), ordered by path; symbolic links to directories
    are not followed."""
    found: list[Source] = []
    visited = 0
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(
            d for d in dirs if depth < MAX_DEPTH and d not in SKIPPED_DIRS and not d.startswith(".")
        )
        found += _sources_in(root, here, files)
        visited += 1
        if visited >= MAX_DIRS:
            break
    return sorted(found, key=lambda source: (source.rel, source.kind))
