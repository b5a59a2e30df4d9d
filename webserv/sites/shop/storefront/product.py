"""Product pages, option validation, and the review form."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webserv.sites.shop import db
from webserv.sites.shop.storefront.catalog import product_cards
from webserv.sites.shop.storefront.common import (
    Conn,
    Id,
    bad_request,
    current_customer,
    not_found,
    page,
)

router = APIRouter()

REVIEW_LIMITS = {"nickname": (1, 60), "title": (1, 120), "body": (10, 5000)}
REVIEW_LABELS = {"nickname": "Nickname", "title": "Summary", "body": "Review"}


def get_product(conn: sqlite3.Connection, product_id: int) -> sqlite3.Row:
    """An enabled product with its brand and category names, or a 404."""
    row = conn.execute(
        """SELECT p.*, coalesce(p.special_cents, p.price_cents) AS final_cents,
                  b.name AS brand, c.name AS category, c.slug AS category_slug,
                  c.parent_id AS category_parent
           FROM products p JOIN brands b ON b.id = p.brand_id
           JOIN categories c ON c.id = p.category_id
           WHERE p.id = ? AND p.status = 'enabled'""",
        (product_id,),
    ).fetchone()
    if row is None:
        raise not_found("Product", product_id)
    return row


def product_options(product: sqlite3.Row) -> dict[str, list[str]]:
    return dict(json.loads(product["options_json"] or "{}"))


def option_text(product: sqlite3.Row, chosen: dict[str, str]) -> str:
    """Validate the shopper's option choices; ``"Size: M, Color: Red"`` in catalogue order."""
    options = product_options(product)
    unknown = sorted(set(chosen) - set(options))
    if unknown:
        raise bad_request(f"{product['name']} has no option {unknown[0][:50]!r}.")
    parts = []
    for name, values in options.items():
        value = chosen.get(name, "").strip()
        if not value:
            raise bad_request(f"Choose a {name.lower()} for {product['name']}.")
        if value not in values:
            raise bad_request(
                f"{value[:50]!r} is not an available {name.lower()}; choose one of "
                f"{', '.join(values)}."
            )
        parts.append(f"{name}: {value}")
    return ", ".join(parts)


def _product_page(
    request: Request,
    conn: sqlite3.Connection,
    product_id: int,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    product = get_product(conn, product_id)
    images = conn.execute(
        "SELECT * FROM product_images WHERE product_id = ? ORDER BY position, id", (product_id,)
    ).fetchall()
    parent = conn.execute(
        "SELECT name, slug FROM categories WHERE id = ?", (product["category_parent"],)
    ).fetchone()
    related = product_cards(
        conn,
        "p.category_id = ? AND p.id != ?",
        [product["category_id"], product_id],
        "p.rating_count DESC, p.id",
        4,
    )
    customer = current_customer(request, conn)
    wished = (
        customer is not None
        and conn.execute(
            "SELECT 1 FROM wishlist WHERE customer_id = ? AND product_id = ?",
            (customer["id"], product_id),
        ).fetchone()
        is not None
    )
    context.setdefault("review", {"nickname": customer["first_name"] if customer else ""})
    context.setdefault("review_errors", {})
    return page(
        request,
        conn,
        "product.html",
        status_code=status_code,
        product=product,
        images=images,
        options=product_options(product),
        parent=parent,
        related=related,
        wished=wished,
        submitted=request.query_params.get("review") == "submitted",
        **context,
    )


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product_page(request: Request, conn: Conn, product_id: Id) -> HTMLResponse:
    return _product_page(request, conn, product_id)


@router.post("/products/{product_id}/reviews", response_class=HTMLResponse)
def submit_review(
    request: Request,
    conn: Conn,
    product_id: Id,
    nickname: str = Form(""),
    rating: str = Form(""),
    title: str = Form(""),
    body: str = Form(""),
) -> Response:
    get_product(conn, product_id)
    values = {"nickname": nickname.strip(), "title": title.strip(), "body": body.strip()}
    errors: dict[str, str] = {}
    for field, (low, high) in REVIEW_LIMITS.items():
        length = len(values[field])
        if length < low:
            errors[field] = (
                f"{REVIEW_LABELS[field]} is required."
                if low == 1
                else f"{REVIEW_LABELS[field]} must be at least {low} characters."
            )
        elif length > high:
            errors[field] = f"{REVIEW_LABELS[field]} must be at most {high} characters."
    stars = int(rating) if rating.strip() in {"1", "2", "3", "4", "5"} else None
    if stars is None:
        errors["rating"] = "Choose a rating from 1 to 5 stars."
    if errors:
        trimmed = {k: v[:5000] for k, v in values.items()} | {"rating": stars}
        return _product_page(
            request,
            conn,
            product_id,
            status_code=400,
            review=trimmed,
            review_errors=errors,
        )
    customer = current_customer(request, conn)
    conn.execute(
        """INSERT INTO reviews (product_id, customer_id, nickname, rating, title, body, status,
                                created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)""",
        (
            product_id,
            customer["id"] if customer else None,
            values["nickname"],
            stars,
            values["title"],
            values["body"],
            db.now(),
        ),
    )
    return RedirectResponse(f"/products/{product_id}?review=submitted#review-form", status_code=303)
