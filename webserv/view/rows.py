"""The episode table: one row per episode of every run and per task of every suite report,
filtered, sorted and cut into pages on the server (a page holds ``per_page`` rows however
many episodes there are)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from webserv.env.runner import SuiteReport, TaskResult, site_key
from webserv.rollout.records import EpisodeRecord

Outcome = Literal["success", "failure", "error", "unscored"]
#: A session id as the rollout runner makes it: ``<run_id>-<episode>``.
_RUNNER_SESSION = re.compile(r"(?P<run>[0-9a-f]{8})-\d{4,}")


@dataclass(frozen=True, slots=True)
class EpisodeRow:
    """What the table shows of one episode (a rollout's) or one task result (a suite's)."""

    source: str  # the id of the source it belongs to
    kind: Literal["rollout", "suite"]
    id: str  # the session id; a suite result's task id
    run: str
    group: str
    episode: int
    task: str
    intent: str
    site: str
    persona: str
    policy: str
    steps: int
    reward: float
    score: float | None
    errors: int  # format and action errors
    error: str  # what ended the episode abnormally, if anything
    wall_ms: float | None
    judge_score: float | None = None  # a judging panel's score, if one judged it
    flags: int = 0  # what a safety screen flagged over its steps

    @property
    def key(self) -> str:
        """The episode's id in URLs: its source's id, a colon, its own id."""
        return f"{self.source}:{self.id}"

    @property
    def outcome(self) -> Outcome:
        """success: scored 1 (as the runner counts successes); error: ended abnormally;
        failure: scored below 1; unscored: no evaluation (not evaluable, or a recording)."""
        if self.error:
            return "error"
        if self.score is None:
            return "unscored"
        return "success" if self.score == 1.0 else "failure"


def rollout_row(source: str, record: EpisodeRecord) -> EpisodeRow:
    """The row of a rollout's episode."""
    run = _RUNNER_SESSION.fullmatch(record.session_id)
    return EpisodeRow(
        source=source,
        kind="rollout",
        id=record.session_id,
        run=run.group("run") if run else "",
        group=record.group_id or "",
        episode=record.episode,
        task=str(record.task_id),
        intent=record.intent,
        site="",  # episode records do not say which site served the episode
        persona=record.persona or "",
        policy=record.policy,
        steps=record.steps,
        reward=record.reward,
        score=record.score,
        errors=record.format_errors + record.action_errors,
        error=record.error or ("stopped by the safety screen" if record.stopped_by_screen else ""),
        wall_ms=record.wall_ms or None,
        judge_score=record.judge_score,
        flags=sum(record.flags.values()),
    )


def suite_row(source: str, report: SuiteReport, result: TaskResult) -> EpisodeRow:
    """The table row of one task of a suite report."""
    return EpisodeRow(
        source=source,
        kind="suite",
        id=str(result.task_id),
        run="",
        group="",
        episode=0,
        task=str(result.task_id),
        intent=result.intent,
        site=site_key(result),
        persona="",
        policy=report.policy,
        steps=result.steps,
        reward=result.score or 0.0,
        score=result.score,
        errors=len(result.action_errors),
        error=result.error,
        wall_ms=(result.reset_ms or 0.0) + sum(result.step_ms) or None,
    )


SortKey = Literal[
    "found",
    "episode",
    "task",
    "site",
    "persona",
    "policy",
    "outcome",
    "reward",
    "score",
    "errors",
    "steps",
    "wall",
]
#: Columns the table sorts by, and the value each sorts on ("found": as the files list them,
#: sources by path). Rows without a value (None) come last either way.
SORT_KEYS: dict[SortKey, Callable[[EpisodeRow], Any]] = {
    "found": lambda row: 0,
    "episode": lambda row: row.id,
    "task": lambda row: (not row.task.isdigit(), row.task.zfill(12)),
    "site": lambda row: row.site,
    "persona": lambda row: row.persona,
    "policy": lambda row: row.policy,
    "outcome": lambda row: row.outcome,
    "reward": lambda row: row.reward,
    "score": lambda row: row.score,
    "errors": lambda row: row.errors + bool(row.error),
    "steps": lambda row: row.steps,
    "wall": lambda row: row.wall_ms,
}


class EpisodeQuery(BaseModel):
    """Which episodes a table page shows: the filters (all must hold), the order, the page."""

    q: str = Field("", max_length=200, description="Text in the intent, task or session id.")
    source: str = Field("", max_length=40)
    run: str = Field("", max_length=100)
    group: str = Field("", max_length=100)
    task: str = Field("", max_length=100)
    site: str = Field("", max_length=100)
    persona: str = Field("", max_length=100)
    policy: str = Field("", max_length=100)
    outcome: Literal["", "success", "failure", "unscored"] = Field(
        "", description="failure: failed or ended with an error."
    )
    errors: Literal["", "yes", "no"] = Field("", description="Any format or action error.")
    min_steps: int | None = Field(None, ge=0)
    max_steps: int | None = Field(None, ge=0)
    sort: SortKey = "found"
    desc: bool = False
    page: int = Field(1, ge=1)
    per_page: int = Field(100, ge=1, le=500)

    @field_validator("min_steps", "max_steps", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value  # an empty form field

    def matches(self, row: EpisodeRow) -> bool:
        exact = {
            "source": row.source,
            "run": row.run,
            "group": row.group,
            "task": row.task,
            "site": row.site,
            "persona": row.persona,
            "policy": row.policy,
        }
        if any(
            getattr(self, name) and getattr(self, name) != value for name, value in exact.items()
        ):
            return False
        if self.outcome == "failure" and row.outcome not in ("failure", "error"):
            return False
        if self.outcome in ("success", "unscored") and row.outcome != self.outcome:
            return False
        if self.errors and (row.errors > 0 or bool(row.error)) != (self.errors == "yes"):
            return False
        if self.min_steps is not None and row.steps < self.min_steps:
            return False
        if self.max_steps is not None and row.steps > self.max_steps:
            return False
        text = self.q.casefold()
        return not text or any(text in value.casefold() for value in (row.intent, row.task, row.id))

    def params(self, **changes: Any) -> dict[str, Any]:
        """The query's non-default parameters, with ``changes``, for a link."""
        changed = self.model_validate({**self.model_dump(), **changes})
        values = changed.model_dump(exclude_defaults=True)
        return {
            name: int(value) if isinstance(value, bool) else value for name, value in values.items()
        }


class EpisodePage(BaseModel):
    """One page of the table."""

    rows: list[Any] = Field(description="The page's EpisodeRows.")
    total: int = Field(description="Episodes that match the filters.")
    page: int
    pages: int
    choices: dict[str, list[str]] = Field(
        description="Per filter, the values the matching rows have (for its suggestions)."
    )


def select(rows: Sequence[EpisodeRow], query: EpisodeQuery) -> EpisodePage:
    """The rows of ``query``'s page: filtered, sorted (``desc``: descending), cut."""
    key = SORT_KEYS[query.sort]
    matching = [row for row in rows if query.matches(row)]
    unknown = [row for row in matching if key(row) is None]
    matching = [row for row in matching if key(row) is not None]
    matching.sort(key=key, reverse=query.desc)
    matching += unknown
    pages = max(1, math.ceil(len(matching) / query.per_page))
    page = min(query.page, pages)
    start = (page - 1) * query.per_page
    return EpisodePage(
        rows=matching[start : start + query.per_page],
        total=len(matching),
        page=page,
        pages=pages,
        choices={
            name: sorted({getattr(row, name) for row in matching} - {""})[:500]
            for name in ("task", "site", "persona", "policy", "run")
        },
    )
