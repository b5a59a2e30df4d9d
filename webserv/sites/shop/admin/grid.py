"""Admin data grids: query parameters, SQL filters, sorting, pagination and grid links."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PAGE_SIZES = (20, 50, 100, 200)
MAX_PAGE = 100_000
MAX_SEARCH = 100
# A dollar amount typed into a grid filter ("from"/"to" bounds of a price or total).
Dollars = Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=2)]
# Query parameters that belong to a one-off message, not to the grid's state.
TRANSIENT = ("msg", "n")


class FormQuery(BaseModel):
    """Query parameters sent by a GET form: a blank field means the filter is not set."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


class DateRangeQuery(FormQuery):
    """An optional ``date_from``..``date_to`` range (both days included)."""

    date_from: date | None = None
    date_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRangeQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(
                "the start date (date_from) must be on or before the end date (date_to)"
            )
        return self


class GridQuery(FormQuery):
    """Paging and sorting every grid accepts. Subclasses list their sort keys in ``SORTS``."""

    SORTS: ClassVar[dict[str, str]] = {}

    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = PAGE_SIZES[0]
    sort: str = ""
    dir: Literal["asc", "desc"] = "desc"

    @field_validator("limit")
    @classmethod
    def _known_page_size(cls, value: int) -> int:
        if value not in PAGE_SIZES:
            raise ValueError(f"the page size must be one of {', '.join(map(str, PAGE_SIZES))}")
        return value

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str) -> str:
        if value not in cls.SORTS:
            known = ", ".join(cls.SORTS)
            raise ValueError(f"cannot sort by '{value[:40]}'; sort by one of: {known}")
        return value

    def order_by(self, tiebreak: str) -> str:
        """SQL ORDER BY text from the whitelisted sort key (never from raw input)."""
        direction = "ASC" if self.dir == "asc" else "DESC"
        return f"{self.SORTS[self.sort]} {direction}, {tiebreak} {direction}"


def like(term: str) -> str:
    """A LIKE pattern matching ``term`` anywhere, with its own % and _ taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


LIKE = "LIKE ? ESCAPE '\\'"


@dataclass
class Where:
    """SQL conditions joined by AND, with their parameters in order."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def date_range(self, column: str, start: date | None, end: date | None) -> None:
        # Compare the date part as text: works for any stored year without date arithmetic.
        if start:
            self.add(f"substr({column}, 1, 10) >= ?", start.isoformat())
        if end:
            self.add(f"substr({column}, 1, 10) <= ?", end.isoformat())

    def money_range(self, column: str, low: Decimal | None, high: Decimal | None) -> None:
        """``low <= column <= high`` for a column in cents, bounds in dollars."""
        if low is not None:
            self.add(f"{column} >= ?", int(low * 100))
        if high is not None:
            self.add(f"{column} <= ?", int(high * 100))

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


@dataclass(frozen=True)
class Page:
    """One page of a grid's rows, with what the pager needs."""

    rows: list[sqlite3.Row]
    total: int
    number: int
    size: int

    @property
    def count(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        return (self.number - 1) * self.size + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.number * self.size, self.total)

    def window(self, width: int = 2) -> list[int]:
        """Page numbers to link around the current one."""
        low = max(1, self.number - width)
        return list(range(low, min(self.count, self.number + width) + 1))


def fetch_page(
    conn: sqlite3.Connection, select: str, params: list[Any], order_by: str, query: GridQuery
) -> Page:
    """Run ``select`` for the page ``query`` asks for; a page past the end is a 404."""
    total = conn.execute(f"SELECT COUNT(*) FROM ({select})", params).fetchone()[0]
    pages = max(1, -(-total // query.limit))
    if query.page > pages:
        there = "is only 1 page" if pages == 1 else f"are only {pages} pages"
        raise HTTPException(404, f"Page {query.page} does not exist: there {there} of results.")
    rows = conn.execute(
        f"{select} ORDER BY {order_by} LIMIT ? OFFSET ?",
        [*params, query.limit, (query.page - 1) * query.limit],
    ).fetchall()
    return Page(rows=rows, total=total, number=query.page, size=query.limit)


@dataclass(frozen=True)
class Links:
    """URLs of a grid with one thing changed (page, sort...), keeping the other filters."""

    path: str
    params: dict[str, str]
    sort: str = ""
    dir: str = "desc"

    @classmethod
    def of(cls, request: Request, query: GridQuery) -> Links:
        params = {k: v for k, v in request.query_params.items() if v and k not in TRANSIENT}
        return cls(request.url.path, params, query.sort, query.dir)

    def url(self, **changes: object) -> str:
        params = dict(self.params)
        for key, value in changes.items():
            if value is None or value == "":
                params.pop(key, None)
            else:
                params[key] = str(value)
        return f"{self.path}?{urlencode(params)}" if params else self.path

    def sort_url(self, key: str) -> str:
        direction = "desc" if key == self.sort and self.dir == "asc" else "asc"
        return self.url(sort=key, dir=direction, page=None)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "ascending" if self.dir == "asc" else "descending"


def shift(day: date, days: int) -> date:
    """``day`` moved by ``days``, clamped to the calendar instead of overflowing."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max
