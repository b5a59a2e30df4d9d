"""Customers: the customers grid and a customer's page with their orders and reviews."""

from __future__ import annotations

import sqlite3
from typing import Annotated, ClassVar, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from webserv.sites.shop import db
from webserv.sites.shop.admin.auth import AdminRoute
from webserv.sites.shop.admin.common import REVENUE_SQL, Id, not_found, render_admin
from webserv.sites.shop.admin.grid import (
    LIKE,
    MAX_SEARCH,
    GridQuery,
    Links,
    Where,
    fetch_page,
    like,
)

router = APIRouter(route_class=AdminRoute)


class CustomersQuery(GridQuery):
    """Filters of the customers grid."""

    SORTS: ClassVar[dict[str, str]] = {
        "id": "c.id",
        "name": "c.last_name || ' ' || c.first_name",
        "email": "c.email",
        "created_at": "c.created_at",
        "orders": "orders",
        "sales": "sales",
    }
    sort: str = "id"
    dir: Literal["asc", "desc"] = "asc"
    q: str | None = Field(None, max_length=MAX_SEARCH)


@router.get("/customers", response_class=HTMLResponse)
def customers_grid(
    request: Request,
    query: Annotated[CustomersQuery, Query()],
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    where = Where()
    if query.q:
        pattern = like(query.q)
        where.add(
            f"(c.first_name || ' ' || c.last_name {LIKE} OR c.email {LIKE}"
            f" OR c.phone {LIKE} OR c.city {LIKE})",
            pattern,
            pattern,
            pattern,
            pattern,
        )
    select = (
        "SELECT c.*, COUNT(o.id) AS orders,"
        f" COALESCE(SUM(CASE WHEN {REVENUE_SQL} THEN o.total_cents END), 0) AS sales,"
        " MAX(o.created_at) AS last_order"
        f" FROM customers c LEFT JOIN orders o ON o.customer_id = c.id {where.sql} GROUP BY c.id"
    )
    page = fetch_page(conn, select, where.params, query.order_by("c.id"), query)
    return render_admin(
        request,
        "customers.html",
        section="customers",
        query=query,
        page=page,
        links=Links.of(request, query),
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_view(
    request: Request,
    customer_id: Id,
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    customer = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if customer is None:
        raise not_found("Customer", customer_id)
    orders = conn.execute(
        "SELECT o.*, (SELECT COALESCE(SUM(qty), 0) FROM order_items i WHERE i.order_id = o.id)"
        " AS items FROM orders o WHERE o.customer_id = ? ORDER BY o.created_at DESC, o.id DESC",
        (customer_id,),
    ).fetchall()
    stats = conn.execute(
        f"SELECT COUNT(*) AS orders, COALESCE(SUM(CASE WHEN {REVENUE_SQL} THEN total_cents END), 0)"
        " AS sales FROM orders o WHERE customer_id = ?",
        (customer_id,),
    ).fetchone()
    reviews = conn.execute(
        "SELECT r.*, p.name AS product_name FROM reviews r JOIN products p ON p.id = r.product_id"
        " WHERE r.customer_id = ? ORDER BY r.created_at DESC, r.id DESC",
        (customer_id,),
    ).fetchall()
    wishlist = conn.execute(
        "SELECT p.id, p.name, p.sku, p.price_cents, w.added_at FROM wishlist w"
        " JOIN products p ON p.id = w.product_id WHERE w.customer_id = ?"
        " ORDER BY w.added_at DESC, p.id",
        (customer_id,),
    ).fetchall()
    subscribed = conn.execute(
        "SELECT created_at FROM newsletter WHERE email = ?", (customer["email"],)
    ).fetchone()
    return render_admin(
        request,
        "customer.html",
        section="customers",
        customer=customer,
        orders=orders,
        stats=stats,
        reviews=reviews,
        wishlist=wishlist,
        subscribed=subscribed,
    )
