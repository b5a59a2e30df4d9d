"""Marketing > Reviews: moderation of customer reviews (approve, reject, delete)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Annotated, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from webserv.sites.shop import db
from webserv.sites.shop.admin.auth import AdminRoute
from webserv.sites.shop.admin.common import MAX_ID, not_found, render_admin
from webserv.sites.shop.admin.grid import (
    LIKE,
    MAX_SEARCH,
    TRANSIENT,
    GridQuery,
    Links,
    Where,
    fetch_page,
    like,
)

router = APIRouter(route_class=AdminRoute)

REVIEW_STATUSES = ("pending", "approved", "rejected")
ACTIONS = {"approve": "approved", "reject": "rejected", "delete": None}
MAX_BATCH = 200
GRID = "/admin/reviews"


class ReviewsQuery(GridQuery):
    """Filters of the reviews grid."""

    SORTS: ClassVar[dict[str, str]] = {
        "created_at": "r.created_at",
        "rating": "r.rating",
        "product": "p.name",
        "nickname": "r.nickname",
        "status": "r.status",
    }
    sort: str = "created_at"
    status: Literal["pending", "approved", "rejected"] | None = None
    q: str | None = Field(None, max_length=MAX_SEARCH)
    rating: int | None = Field(None, ge=1, le=5)
    product_id: int | None = Field(None, ge=1, le=MAX_ID)


@router.get("/reviews", response_class=HTMLResponse)
def reviews_grid(
    request: Request,
    query: Annotated[ReviewsQuery, Query()],
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    where = Where()
    product = None
    if query.product_id:
        product = conn.execute(
            "SELECT id, name FROM products WHERE id = ?", (query.product_id,)
        ).fetchone()
        if product is None:
            raise not_found("Product", query.product_id)
        where.add("r.product_id = ?", query.product_id)
    if query.q:
        pattern = like(query.q)
        where.add(
            f"(r.title {LIKE} OR r.body {LIKE} OR r.nickname {LIKE} OR p.name {LIKE})",
            pattern,
            pattern,
            pattern,
            pattern,
        )
    if query.rating:
        where.add("r.rating = ?", query.rating)
    # Tab counts follow every filter except the status itself.
    counts = dict(
        conn.execute(
            "SELECT r.status, COUNT(*) FROM reviews r JOIN products p ON p.id = r.product_id"
            f" {where.sql} GROUP BY r.status",
            where.params,
        ).fetchall()
    )
    if query.status:
        where.add("r.status = ?", query.status)
    select = (
        "SELECT r.*, p.name AS product_name, p.sku FROM reviews r"
        f" JOIN products p ON p.id = r.product_id {where.sql}"
    )
    page = fetch_page(conn, select, where.params, query.order_by("r.id"), query)
    return render_admin(
        request,
        "reviews.html",
        section="reviews",
        query=query,
        page=page,
        links=Links.of(request, query),
        counts=counts,
        statuses=REVIEW_STATUSES,
        product=product,
        back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


def refresh_ratings(conn: sqlite3.Connection, product_ids: Iterable[int]) -> None:
    """Recompute products' rating_avg/rating_count from their approved reviews."""
    conn.executemany(
        "UPDATE products SET"
        " rating_count = (SELECT COUNT(*) FROM reviews"
        "  WHERE product_id = products.id AND status = 'approved'),"
        " rating_avg = COALESCE((SELECT ROUND(AVG(rating), 2) FROM reviews"
        "  WHERE product_id = products.id AND status = 'approved'), 0)"
        " WHERE id = ?",
        [(pid,) for pid in set(product_ids)],
    )


def return_url(back: str, action: str, count: int) -> str:
    """The grid the moderator came from, from its first page, with a confirmation."""
    parts = urlsplit(back)
    params = [(k, v) for k, v in parse_qsl(parts.query) if k not in (*TRANSIENT, "page")]
    path = parts.path if parts.path == GRID and not parts.netloc else GRID
    return f"{path}?{urlencode([*params, ('msg', f'reviews_{action}'), ('n', count)])}"


@router.post("/reviews/moderate")
def moderate(
    action: str = Form(""),
    review_id: list[str] = Form([]),
    back: str = Form(GRID),
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    if action not in ACTIONS:
        raise HTTPException(400, f"Unknown action '{action[:40]}': use approve, reject or delete.")
    if not review_id:
        raise HTTPException(400, "Select at least one review.")
    if len(review_id) > MAX_BATCH:
        raise HTTPException(400, f"Select at most {MAX_BATCH} reviews at a time.")
    ids: set[int] = set()
    for raw in review_id:
        text = raw.strip()
        if not text.isdigit() or len(text) > 18:
            raise HTTPException(400, f"'{raw[:40]}' is not a review id.")
        ids.add(int(text))
    found = dict(
        conn.execute(
            f"SELECT id, product_id FROM reviews WHERE id IN ({', '.join('?' * len(ids))})",
            sorted(ids),
        ).fetchall()
    )
    missing = sorted(ids - found.keys())
    if missing:
        raise not_found("Review", ", ".join(map(str, missing)))
    marks = ", ".join("?" * len(ids))
    status = ACTIONS[action]
    if status is None:
        conn.execute(f"DELETE FROM reviews WHERE id IN ({marks})", sorted(ids))
    else:
        conn.execute(f"UPDATE reviews SET status = ? WHERE id IN ({marks})", [status, *sorted(ids)])
    refresh_ratings(conn, found.values())
    return RedirectResponse(return_url(back, action, len(ids)), status_code=303)
