"""The admin dashboard: sales figures, recent activity, what needs attention."""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from webserv.sites.shop import db
from webserv.sites.shop.admin.auth import AdminRoute
from webserv.sites.shop.admin.common import REVENUE_SQL, render_admin
from webserv.sites.shop.admin.grid import shift
from webserv.sites.shop.admin.products import LOW_STOCK
from webserv.sites.shop.admin.reports import bestsellers, newest_order_day, sales_by_period

router = APIRouter(route_class=AdminRoute)

RECENT_WINDOWS = (7, 30)


@router.get("/", response_class=HTMLResponse)
@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, conn: sqlite3.Connection = Depends(db.get_db, scope="function")
) -> Response:
    totals = conn.execute(
        f"SELECT COUNT(*) AS orders, COUNT(CASE WHEN {REVENUE_SQL} THEN 1 END) AS paid,"
        f" COALESCE(SUM(CASE WHEN {REVENUE_SQL} THEN total_cents END), 0) AS sales"
        " FROM orders o"
    ).fetchone()
    newest = newest_order_day(conn)
    recent = []
    for days in RECENT_WINDOWS:
        start = shift(newest, -(days - 1))
        rows = sales_by_period(conn, "year", start, newest, "counted")
        recent.append(
            {
                "days": days,
                "start": start,
                "orders": sum(r.orders for r in rows),
                "revenue_cents": sum(r.revenue_cents for r in rows),
            }
        )
    last_orders = conn.execute(
        "SELECT o.id, o.number, o.status, o.total_cents, o.created_at,"
        " c.first_name || ' ' || c.last_name AS customer_name,"
        " (SELECT COALESCE(SUM(qty), 0) FROM order_items i WHERE i.order_id = o.id) AS items"
        " FROM orders o JOIN customers c ON c.id = o.customer_id"
        " ORDER BY o.created_at DESC, o.id DESC LIMIT 5"
    ).fetchall()
    newest_customers = conn.execute(
        "SELECT id, first_name, last_name, email, created_at FROM customers"
        " ORDER BY created_at DESC, id DESC LIMIT 5"
    ).fetchall()
    attention = conn.execute(
        "SELECT (SELECT COUNT(*) FROM orders WHERE status = 'pending') AS pending_orders,"
        " (SELECT COUNT(*) FROM reviews WHERE status = 'pending') AS pending_reviews,"
        " (SELECT COUNT(*) FROM products WHERE stock = 0) AS out_of_stock,"
        " (SELECT COUNT(*) FROM products WHERE stock BETWEEN 1 AND ?) AS low_stock",
        (LOW_STOCK,),
    ).fetchone()
    return render_admin(
        request,
        "dashboard.html",
        section="dashboard",
        totals=totals,
        average_cents=totals["sales"] // totals["paid"] if totals["paid"] else 0,
        newest=newest,
        recent=recent,
        last_orders=last_orders,
        bestsellers=bestsellers(conn, None, None, "counted", 5),
        newest_customers=newest_customers,
        attention=attention,
        low_stock=LOW_STOCK,
    )
