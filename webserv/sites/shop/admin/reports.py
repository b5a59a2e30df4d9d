"""Reports: sales by period and bestsellers over a date range, plus the figures they share."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import field_validator

from webserv.sites.shop import db
from webserv.sites.shop.admin.auth import AdminRoute
from webserv.sites.shop.admin.common import NOT_REVENUE, ORDER_STATUSES, REVENUE_SQL, render_admin
from webserv.sites.shop.admin.grid import DateRangeQuery, Where, shift

router = APIRouter(route_class=AdminRoute)

# Length of the created_at prefix that names a period: YYYY-MM-DD, YYYY-MM, YYYY.
PERIOD_CHARS = {"day": 10, "month": 7, "year": 4}
# How far back a report reaches when no start date is given.
DEFAULT_SPAN_DAYS = {"day": 29, "month": 364, "year": 5 * 365}
TOP_SIZES = (10, 20, 50, 100)
STATUS_CHOICES = {
    "counted": f"All but {' and '.join(NOT_REVENUE)}",
    "any": "Any status",
    **{status: status.capitalize() for status in ORDER_STATUSES},
}


class ReportQuery(DateRangeQuery):
    """Date range and order-status filter shared by the reports."""

    status: str = "counted"

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str) -> str:
        if value not in STATUS_CHOICES:
            raise ValueError(f"order status must be one of: {', '.join(STATUS_CHOICES)}")
        return value


class SalesQuery(ReportQuery):
    period: Literal["day", "month", "year"] = "month"


class BestsellersQuery(ReportQuery):
    top: int = 20

    @field_validator("top")
    @classmethod
    def _known_top(cls, value: int) -> int:
        if value not in TOP_SIZES:
            raise ValueError(f"top must be one of {', '.join(map(str, TOP_SIZES))}")
        return value


def status_filter(where: Where, choice: str) -> None:
    if choice == "counted":
        where.add(REVENUE_SQL)
    elif choice != "any":
        where.add("o.status = ?", choice)


def newest_order_day(conn: sqlite3.Connection) -> date:
    """The day of the newest order: "recent" is relative to the data, not the clock."""
    newest = conn.execute("SELECT MAX(substr(created_at, 1, 10)) FROM orders").fetchone()[0]
    return date.fromisoformat(newest) if newest else date.today()


def resolve_range(
    conn: sqlite3.Connection, query: ReportQuery, span_days: int
) -> tuple[date, date]:
    """The range a report covers: the one asked for, completed from the newest order."""
    end = query.date_to or max(newest_order_day(conn), query.date_from or date.min)
    start = query.date_from or shift(end, -span_days)
    return start, end


@dataclass(frozen=True)
class SalesRow:
    period: str
    orders: int
    items: int
    subtotal_cents: int
    shipping_cents: int
    revenue_cents: int


def sales_by_period(
    conn: sqlite3.Connection, period: str, start: date, end: date, status: str
) -> list[SalesRow]:
    """Orders, items sold and revenue per day/month/year in [start, end], oldest first."""
    where = Where()
    where.date_range("o.created_at", start, end)
    status_filter(where, status)
    rows = conn.execute(
        f"SELECT substr(o.created_at, 1, {PERIOD_CHARS[period]}) AS period, COUNT(*),"
        " COALESCE(SUM((SELECT SUM(qty) FROM order_items i WHERE i.order_id = o.id)), 0),"
        " SUM(o.subtotal_cents), SUM(o.shipping_cents), SUM(o.total_cents)"
        f" FROM orders o {where.sql} GROUP BY period ORDER BY period",
        where.params,
    ).fetchall()
    return [SalesRow(*row) for row in rows]


def sales_totals(rows: list[SalesRow]) -> SalesRow:
    return SalesRow(
        period="Total",
        orders=sum(r.orders for r in rows),
        items=sum(r.items for r in rows),
        subtotal_cents=sum(r.subtotal_cents for r in rows),
        shipping_cents=sum(r.shipping_cents for r in rows),
        revenue_cents=sum(r.revenue_cents for r in rows),
    )


def bestsellers(
    conn: sqlite3.Connection, start: date | None, end: date | None, status: str, top: int
) -> list[sqlite3.Row]:
    """Products by quantity ordered in [start, end] (ties: revenue, then id)."""
    where = Where()
    where.date_range("o.created_at", start, end)
    status_filter(where, status)
    return conn.execute(
        "SELECT i.product_id, p.name, p.sku, SUM(i.qty) AS qty,"
        " SUM(i.qty * i.price_cents) AS revenue_cents, COUNT(DISTINCT i.order_id) AS orders"
        " FROM order_items i JOIN orders o ON o.id = i.order_id"
        f" JOIN products p ON p.id = i.product_id {where.sql}"
        " GROUP BY i.product_id ORDER BY qty DESC, revenue_cents DESC, i.product_id LIMIT ?",
        [*where.params, top],
    ).fetchall()


def form_context(query: ReportQuery, start: date, end: date) -> dict[str, Any]:
    return {
        "query": query,
        "start": start,
        "end": end,
        "status_choices": STATUS_CHOICES,
        "section": "reports",
    }


@router.get("/reports/sales", response_class=HTMLResponse)
def sales_report(
    request: Request,
    query: Annotated[SalesQuery, Query()],
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    start, end = resolve_range(conn, query, DEFAULT_SPAN_DAYS[query.period])
    rows = sales_by_period(conn, query.period, start, end, query.status)
    return render_admin(
        request,
        "report_sales.html",
        rows=rows,
        totals=sales_totals(rows),
        **form_context(query, start, end),
    )


@router.get("/reports/bestsellers", response_class=HTMLResponse)
def bestsellers_report(
    request: Request,
    query: Annotated[BestsellersQuery, Query()],
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    start, end = resolve_range(conn, query, DEFAULT_SPAN_DAYS["month"])
    return render_admin(
        request,
        "report_bestsellers.html",
        rows=bestsellers(conn, start, end, query.status, query.top),
        top_sizes=TOP_SIZES,
        **form_context(query, start, end),
    )
