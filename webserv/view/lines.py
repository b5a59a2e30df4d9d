"""JSONL files read once, then only as they grow.

Run files are only ever appended to (:mod:`webserv.rollout.records`), so a reader keeps
where it stopped and reads what was added since, which keeps a running rollout's
directory current at the cost of its new lines only. A file that shrank, was replaced or
was rewritten in place (its first bytes, or those before where the reader stopped, are not
what they were: an evaluation writes its predictions anew) is read again from the start. A
line still being written (no newline yet) is read once it is complete. A line that is not a
record is kept as a problem with its line number; the others are shown.

A reader is not thread-safe: whoever shares one across threads holds a lock around its use.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from webserv.rollout.records import EpisodeRecord, StepRecord

M = TypeVar("M", bound=BaseModel)

#: Bytes read at a time (a steps.jsonl of a long run holds hundreds of megabytes).
CHUNK_BYTES = 8 << 20
#: Problems kept per file: enough to see what is wrong.
MAX_PROBLEMS = 50
#: Bytes compared to tell an appended file from a rewritten one: its first ones, and those
#: before where the reader stopped.
_MARK_BYTES = 64
#: A step record written by webserv begins with its session id: found without parsing.
_SESSION_HEAD = re.compile(rb'\A\{"session_id":"((?:[^"\\]|\\.)*)"')


def describe(err: ValueError) -> str:
    """A one-line account of why a line is not a record."""
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the line"
        return f"{where}: {first['msg']} ({err.error_count()} problem(s))"
    return str(err).splitlines()[0][:200]


class AppendedLines(ABC):
    """One JSONL file, kept current by :meth:`refresh`; subclasses say what a line adds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version = 0  # changes whenever what was read changes
        self._start_over()

    def _start_over(self) -> None:
        self.version += 1
        self._seen: tuple[int, int, int, int] | None = None  # device, inode, size, mtime
        self._end = 0  # bytes read: up to the end of the last complete line
        self._marks = (b"", b"")  # the file's first bytes, and those before _end
        self._lines = 0
        self.problems: list[str] = []
        self._clear()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def refresh(self) -> None:
        """Read what was appended since the last call (everything, the first time)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._seen is not None:
                self._start_over()
            return
        seen = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if seen == self._seen:
            return
        previous = self._seen
        rewritten = previous is not None and (
            previous[:2] != seen[:2]
            or stat.st_size < self._end
            or (stat.st_size == previous[2] and stat.st_mtime_ns != previous[3])
            or self._read_marks() != self._marks
        )
        if rewritten:
            self._start_over()
        self._read_from_end()
        self._marks = self._read_marks()
        self._seen = seen

    def _read_marks(self) -> tuple[bytes, bytes]:
        with self.path.open("rb") as file:
            head = file.read(_MARK_BYTES)
            file.seek(max(0, self._end - _MARK_BYTES))
            return head, file.read(min(self._end, _MARK_BYTES))

    def _read_from_end(self) -> None:
        with self.path.open("rb") as file:
            file.seek(self._end)
            pending = b""
            while chunk := file.read(CHUNK_BYTES):
                data = pending + chunk
                cut = data.rfind(b"\n") + 1
                self._feed(data[:cut])
                pending = data[cut:]

    def _feed(self, block: bytes) -> None:
        offset = self._end
        for line in block.split(b"\n")[:-1]:
            self._lines += 1
            if line.strip():
                try:
                    self._add(line, offset)
                except ValueError as err:  # JSON and validation errors alike
                    if len(self.problems) < MAX_PROBLEMS:
                        self.problems.append(f"{self.path.name}:{self._lines}: {describe(err)}")
            offset += len(line) + 1
        if offset != self._end:
            self._end = offset
            self.version += 1

    @abstractmethod
    def _clear(self) -> None:
        """Forget everything read."""

    @abstractmethod
    def _add(self, line: bytes, offset: int) -> None:
        """Take one line (without its newline) that begins at byte ``offset``."""


class StepLines(AppendedLines):
    """``steps.jsonl`` as where each session's lines are, so an episode's steps are read
    alone. With ``summarise``, every line is also parsed, for the episodes of a file that
    comes without ``episodes.jsonl`` (:meth:`episodes`)."""

    def __init__(self, path: Path, summarise: bool = False) -> None:
        self.summarise = summarise
        super().__init__(path)

    def _clear(self) -> None:
        self.offsets: dict[str, list[int]] = {}
        self._summaries: dict[str, EpisodeRecord] = {}

    def _add(self, line: bytes, offset: int) -> None:
        if self.summarise:
            step = StepRecord.model_validate_json(line)
            session = step.session_id
            self._summarise(step)
        else:
            head = _SESSION_HEAD.match(line)
            session = json.loads(b'"' + head.group(1) + b'"') if head else _session_of(line)
        self.offsets.setdefault(session, []).append(offset)

    def _summarise(self, step: StepRecord) -> None:
        """Add ``step`` to its episode's account, as the rollout runner keeps it (the score
        is the evaluator's, which steps do not record)."""
        episode = self._summaries.get(step.session_id)
        if episode is None:
            fields = step.model_dump(
                include={"session_id", "group_id", "episode", "task_id", "intent", "persona"}
            )
            episode = self._summaries[step.session_id] = EpisodeRecord(**fields, policy="")
        episode.steps += 1
        episode.reward += step.reward
        episode.format_errors += step.env_action is None
        episode.action_errors += bool(step.action_error)
        episode.terminated |= step.terminated
        episode.truncated |= step.truncated
        episode.policy_ms += step.timings.policy_ms
        episode.env_ms += step.timings.env_ms or 0.0

    def episodes(self) -> list[EpisodeRecord]:
        """The episodes the steps make up (read with ``summarise``), in order of first step."""
        return list(self._summaries.values())

    def session(self, session_id: str) -> list[StepRecord]:
        """The steps of one session, in step order ([] if it has none)."""
        offsets = self.offsets.get(session_id, [])
        if not offsets:
            return []
        steps = []
        with self.path.open("rb") as file:
            for offset in offsets:
                file.seek(offset)
                steps.append(StepRecord.model_validate_json(file.readline()))
        return sorted(steps, key=lambda step: step.step)


def _session_of(line: bytes) -> str:
    record: Any = json.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get("session_id"), str):
        raise ValueError("no session_id")
    return record["session_id"]


class ModelLines(AppendedLines, Generic[M]):
    """A JSONL file of one ``model`` per line (episodes.jsonl, runs.jsonl, predictions.jsonl)."""

    def __init__(self, path: Path, model: type[M]) -> None:
        self.model = model
        super().__init__(path)

    def _clear(self) -> None:
        self.records: list[M] = []

    def _add(self, line: bytes, offset: int) -> None:
        self.records.append(self.model.model_validate_json(line))
