"""Everything the viewer reads under its root: the sources, their records, their images.

Each source is indexed once and then kept current as its files grow (:mod:`.lines`); whole
JSON files (a suite report, an evaluation's summary) are read again only when they change.
Requests run in a thread pool, so every index guards itself with a lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from webserv.behaviour.replay import EvalSummary, Prediction
from webserv.env.runner import SuiteReport, TaskResult
from webserv.rollout.records import EpisodeRecord, StepRecord
from webserv.rollout.runner import RunSummary
from webserv.view.lines import ModelLines, StepLines, describe
from webserv.view.rows import EpisodeRow, rollout_row, suite_row
from webserv.view.sources import IMAGE_TYPES, NotFound, OutsideRoot, Source, discover, inside

M = TypeVar("M", bound=BaseModel)

#: How long a discovery of the root's sources is reused before the tree is walked again.
DISCOVERY_TTL_S = 2.0


class Unreadable(ValueError):
    """A file the viewer found but cannot read as what it should be."""


class JsonFile(Generic[M]):
    """One JSON document as ``model``, read again only when the file changes."""

    def __init__(self, path: Path, model: type[M]) -> None:
        self.path, self.model = path, model
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._value: M | None = None

    def load(self) -> M:
        with self._lock:
            try:
                stat = self.path.stat()
                seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
                if seen != self._seen or self._value is None:
                    self._value = self.model.model_validate_json(self.path.read_bytes())
                    self._seen = seen
            except OSError as err:
                raise Unreadable(f"{self.path.name}: {err.strerror or err}") from err
            except ValueError as err:
                raise Unreadable(f"{self.path.name}: {describe(err)}") from err
            return self._value


class RunIndex:
    """A run directory: its episodes (``episodes.jsonl``; without one, made up from
    ``steps.jsonl``), its runs (``runs.jsonl``) and where each episode's steps are."""

    def __init__(self, source: Source) -> None:
        directory = source.path
        self.source = source
        self.episode_lines = ModelLines(directory / "episodes.jsonl", EpisodeRecord)
        self.step_lines = StepLines(
            directory / "steps.jsonl", summarise=not self.episode_lines.exists
        )
        self.run_lines = ModelLines(directory / "runs.jsonl", RunSummary)
        self._lock = threading.Lock()
        self._rows: list[EpisodeRow] = []
        self._rows_of = 0  # the version of the lines the rows were made from

    def rows(self) -> list[EpisodeRow]:
        """The run's episodes as table rows, made again only when their file changed."""
        with self._lock:
            lines = self.step_lines if self.step_lines.summarise else self.episode_lines
            lines.refresh()
            if lines.version != self._rows_of:
                records = (
                    self.step_lines.episodes()
                    if self.step_lines.summarise
                    else self.episode_lines.records
                )
                self._rows = [rollout_row(self.source.id, record) for record in records]
                self._rows_of = lines.version
            return self._rows

    def runs(self) -> list[RunSummary]:
        with self._lock:
            self.run_lines.refresh()
            return list(self.run_lines.records)

    def steps(self, session_id: str) -> list[StepRecord]:
        """The steps of one episode, in order."""
        with self._lock:
            self.step_lines.refresh()
            return self.step_lines.session(session_id)

    @property
    def problems(self) -> list[str]:
        return [
            *self.episode_lines.problems,
            *self.step_lines.problems,
            *self.run_lines.problems,
        ]


class SuiteIndex:
    """A suite report: one row per task result."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.file = JsonFile(source.path, SuiteReport)
        self._rows: list[EpisodeRow] = []
        self._rows_of: SuiteReport | None = None

    def report(self) -> SuiteReport:
        return self.file.load()

    def rows(self) -> list[EpisodeRow]:
        report = self.report()
        if report is not self._rows_of:
            self._rows = [suite_row(self.source.id, report, result) for result in report.results]
            self._rows_of = report
        return self._rows

    def result(self, task_id: str) -> TaskResult:
        for result in self.report().results:
            if str(result.task_id) == task_id:
                return result
        raise NotFound(f"{self.source.title} has no task {task_id!r}")


@dataclass(frozen=True)
class EvalSession:
    """How one session's predictions compare with its recorded actions."""

    session_id: str
    persona: str
    steps: int
    scored: int
    exact: int
    type_match: int
    reward: float | None  # mean total reward over the scored steps that have one


@dataclass(frozen=True)
class EvalStep:
    """One replayed step: the prediction, and the recorded step when its file is readable."""

    prediction: Prediction
    recorded: StepRecord | None


class EvalIndex:
    """A behaviour evaluation: ``summary.json``, ``predictions.jsonl``, ``distributions.png``,
    and the recorded steps it replayed when they lie under the root."""

    def __init__(self, source: Source, root: Path) -> None:
        self.source, self.root = source, root
        self.summary_file = JsonFile(source.path / "summary.json", EvalSummary)
        self.prediction_lines = ModelLines(source.path / "predictions.jsonl", Prediction)
        self._recorded: StepLines | None = None
        self._lock = threading.Lock()

    def summary(self) -> EvalSummary:
        return self.summary_file.load()

    def predictions(self) -> list[Prediction]:
        with self._lock:
            self.prediction_lines.refresh()
            return list(self.prediction_lines.records)

    @property
    def problems(self) -> list[str]:
        return self.prediction_lines.problems

    def sessions(self) -> list[EvalSession]:
        grouped: dict[str, list[Prediction]] = {}
        for prediction in self.predictions():
            grouped.setdefault(prediction.session_id, []).append(prediction)
        return [
            EvalSession(
                session_id=session_id,
                persona=rows[0].persona or "",
                steps=len(rows),
                scored=sum(row.gold is not None for row in rows),
                exact=sum(bool(row.exact) for row in rows),
                type_match=sum(bool(row.type_match) for row in rows),
                reward=_mean([row.reward.total for row in rows if row.reward is not None]),
            )
            for session_id, rows in grouped.items()
        ]

    def session(self, session_id: str) -> list[EvalStep]:
        """The session's replayed steps, in order, each with its recorded step if readable."""
        predictions = sorted(
            (p for p in self.predictions() if p.session_id == session_id), key=lambda p: p.step
        )
        if not predictions:
            raise NotFound(f"{self.source.title} has no session {session_id!r}")
        recorded = {step.step: step for step in self._recorded_session(session_id)}
        return [EvalStep(p, recorded.get(p.step)) for p in predictions]

    def recorded_file(self) -> Path | None:
        """The steps file the evaluation replayed, if it lies under the root: as its summary
        names it (absolute, or relative to where the viewer runs), else the ``steps.jsonl``
        of the directory above (where the README's evaluations go)."""
        try:
            named = self.summary().config.steps
        except Unreadable:
            named = None
        for candidate in (named, self.source.path.parent / "steps.jsonl"):
            if candidate is None:
                continue
            try:
                return inside(self.root, candidate.absolute())
            except OutsideRoot:
                continue
        return None

    def _recorded_session(self, session_id: str) -> list[StepRecord]:
        path = self.recorded_file()
        if path is None:
            return []
        with self._lock:
            if self._recorded is None or self._recorded.path != path:
                self._recorded = StepLines(path)
            self._recorded.refresh()
            try:
                return self._recorded.session(session_id)
            except ValidationError:
                return []  # the file does not hold step records: predictions alone


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


Index = RunIndex | EvalIndex | SuiteIndex


class Library:
    """The sources under one root and their indexes."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve(strict=True)
        self._lock = threading.Lock()
        self._sources: dict[str, Source] = {}
        self._found_at = float("-inf")
        self._indexes: dict[str, Index] = {}

    def sources(self) -> list[Source]:
        """The sources found under the root (the tree is walked again after a while)."""
        with self._lock:
            if time.monotonic() - self._found_at > DISCOVERY_TTL_S:
                self._sources = {source.id: source for source in discover(self.root)}
                self._found_at = time.monotonic()
            return list(self._sources.values())

    def index(self, source_id: str) -> Index:
        """The index of one source, made on first use."""
        found = {source.id: source for source in self.sources()}
        if source_id not in found:
            raise NotFound(f"no source {source_id!r} under {self.root}")
        source = found[source_id]
        with self._lock:
            if source_id not in self._indexes:
                self._indexes[source_id] = self._new_index(source)
            return self._indexes[source_id]

    def _new_index(self, source: Source) -> Index:
        if source.kind == "run":
            return RunIndex(source)
        if source.kind == "eval":
            return EvalIndex(source, self.root)
        return SuiteIndex(source)

    def rows(self) -> tuple[list[EpisodeRow], list[str]]:
        """Every episode of every run and task of every suite report, and what could not be
        read."""
        rows: list[EpisodeRow] = []
        problems: list[str] = []
        for source in self.sources():
            index = self.index(source.id)
            try:
                if isinstance(index, RunIndex | SuiteIndex):
                    rows += index.rows()
            except Unreadable as err:
                problems.append(f"{source.title}: {err}")
            if isinstance(index, RunIndex):
                problems += [f"{source.title}/{problem}" for problem in index.problems]
        return rows, problems

    def row(self, key: str) -> tuple[EpisodeRow, Index]:
        """The row of the episode ``key`` (``<source id>:<episode id>``) and its source's
        index."""
        source_id, _, episode_id = key.partition(":")
        index = self.index(source_id)
        if isinstance(index, RunIndex | SuiteIndex):
            for row in index.rows():
                if row.id == episode_id:
                    return row, index
        raise NotFound(f"no episode {key!r}")

    def image(self, rel: str) -> Path:
        """The image file at ``rel`` under the root; :class:`NotFound` for anything else."""
        try:
            path = inside(self.root, Path(rel))
        except OutsideRoot as err:
            raise NotFound(str(err)) from err
        if path.suffix.lower() not in IMAGE_TYPES:
            raise NotFound(f"{rel}: not an image")
        return path

    def image_path(self, directory: Path, image: str | None) -> str | None:
        """The path under the root of ``image`` (a record's path, relative to ``directory``),
        if it is an image there; None otherwise."""
        if not image:
            return None
        try:
            path = inside(self.root, directory / image)
        except OutsideRoot:
            return None
        return (
            path.relative_to(self.root).as_posix() if path.suffix.lower() in IMAGE_TYPES else None
        )
