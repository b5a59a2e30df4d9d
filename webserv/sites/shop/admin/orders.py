"""Sales > Orders: the orders grid, the order page and its status changes."""

from __future__ import annotations

import sqlite3
from typing import Annotated, ClassVar

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from webserv.sites.shop import db
from webserv.sites.shop.admin.auth import Admin, AdminRoute, current_admin
from webserv.sites.shop.admin.common import ORDER_STATUSES, Id, OrderStatus, not_found, render_admin
from webserv.sites.shop.admin.grid import (
    LIKE,
    MAX_SEARCH,
    DateRangeQuery,
    Dollars,
    GridQuery,
    Links,
    Where,
    fetch_page,
    like,
)

router = APIRouter(route_class=AdminRoute)

# Which status an order may move to from each status (its lifecycle, as in a real back office).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("processing", "canceled"),
    "processing": ("shipped", "canceled", "refunded"),
    "shipped": ("complete", "refunded"),
    "complete": ("refunded",),
    "canceled": (),
    "refunded": (),
}
MAX_COMMENT = 2000


class OrdersQuery(GridQuery, DateRangeQuery):
    """Filters of the orders grid."""

    SORTS: ClassVar[dict[str, str]] = {
        "created_at": "o.created_at",
        "number": "o.number",
        "customer": "customer_name",
        "status": "o.status",
        "total": "o.total_cents",
    }
    sort: str = "created_at"
    status: OrderStatus | None = None
    number: str | None = Field(None, max_length=40)
    customer: str | None = Field(None, max_length=MAX_SEARCH)
    total_from: Dollars | None = None
    total_to: Dollars | None = None


ORDERS_SELECT = """
SELECT o.id, o.number, o.status, o.total_cents, o.created_at, o.ship_name,
       c.id AS customer_id, c.first_name || ' ' || c.last_name AS customer_name, c.email,
       (SELECT COALESCE(SUM(qty), 0) FROM order_items i WHERE i.order_id = o.id) AS items
FROM orders o JOIN customers c ON c.id = o.customer_id
"""


@router.get("/orders", response_class=HTMLResponse)
def orders_grid(
    request: Request,
    query: Annotated[OrdersQuery, Query()],
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    where = Where()
    if query.status:
        where.add("o.status = ?", query.status)
    if query.number:
        where.add(f"o.number {LIKE}", like(query.number))
    if query.customer:
        pattern = like(query.customer)
        where.add(
            f"(c.first_name || ' ' || c.last_name {LIKE} OR c.email {LIKE} OR o.ship_name {LIKE})",
            pattern,
            pattern,
            pattern,
        )
    where.date_range("o.created_at", query.date_from, query.date_to)
    where.money_range("o.total_cents", query.total_from, query.total_to)
    page = fetch_page(
        conn, f"{ORDERS_SELECT} {where.sql}", where.params, query.order_by("o.id"), query
    )
    return render_admin(
        request,
        "orders.html",
        section="orders",
        query=query,
        page=page,
        links=Links.of(request, query),
        statuses=ORDER_STATUSES,
    )


def load_order(conn: sqlite3.Connection, order_id: int) -> sqlite3.Row:
    order = conn.execute(
        "SELECT o.*, c.first_name, c.last_name, c.email, c.phone, c.street, c.city, c.region,"
        " c.postcode, c.country FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.id = ?",
        (order_id,),
    ).fetchone()
    if order is None:
        raise not_found("Order", order_id)
    return order


def order_page(
    request: Request,
    conn: sqlite3.Connection,
    order: sqlite3.Row,
    status_code: int = 200,
    error: str | None = None,
    comment: str = "",
) -> HTMLResponse:
    items = conn.execute(
        "SELECT i.*, p.slug FROM order_items i LEFT JOIN products p ON p.id = i.product_id"
        " WHERE i.order_id = ? ORDER BY i.id",
        (order["id"],),
    ).fetchall()
    history = conn.execute(
        "SELECT * FROM order_history WHERE order_id = ? ORDER BY created_at DESC, id DESC",
        (order["id"],),
    ).fetchall()
    return render_admin(
        request,
        "order.html",
        status_code=status_code,
        section="orders",
        order=order,
        items=items,
        history=history,
        next_statuses=TRANSITIONS[order["status"]],
        error=error,
        comment=comment,
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_view(
    request: Request, order_id: Id, conn: sqlite3.Connection = Depends(db.get_db, scope="function")
) -> Response:
    return order_page(request, conn, load_order(conn, order_id))


def transition_problem(current: str, wanted: str, comment: str) -> tuple[int, str] | None:
    """Why ``current`` -> ``wanted`` (with ``comment``) is refused, as (HTTP status, message)."""
    if wanted not in ORDER_STATUSES:
        return (
            400,
            f"'{wanted[:40]}' is not an order status; use one of {', '.join(ORDER_STATUSES)}.",
        )
    if len(comment) > MAX_COMMENT:
        return 400, f"The comment is too long: at most {MAX_COMMENT} characters."
    if wanted == current:
        return (400, "Choose a new status or write a comment.") if not comment else None
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none (this is a final status)"
        return 409, f"An order that is {current} cannot become {wanted}. Allowed: {allowed}."
    return None


@router.post("/orders/{order_id}/status", response_class=HTMLResponse)
def change_status(
    request: Request,
    order_id: Id,
    status: str = Form(""),
    comment: str = Form(""),
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
    admin: Admin = Depends(current_admin),
) -> Response:
    order = load_order(conn, order_id)
    comment = comment.strip()
    problem = transition_problem(order["status"], status, comment)
    if problem:
        code, message = problem
        return order_page(request, conn, order, code, message, comment[:MAX_COMMENT])
    stamp = db.now()
    message = "comment_added"
    if status != order["status"]:
        message = "order_canceled" if status == "canceled" else "order_updated"
        conn.execute(
            "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", (status, stamp, order_id)
        )
        if status == "canceled":
            # A canceled order gives its items back to stock, as a real shop does.
            conn.execute(
                "UPDATE products SET stock = stock + (SELECT SUM(qty) FROM order_items"
                " WHERE order_id = ? AND product_id = products.id)"
                " WHERE id IN (SELECT product_id FROM order_items WHERE order_id = ?)",
                (order_id, order_id),
            )
    conn.execute(
        "INSERT INTO order_history (order_id, status, comment, author, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (order_id, status, comment, admin.username, stamp),
    )
    return RedirectResponse(f"/admin/orders/{order_id}?msg={message}", status_code=303)
