"""The JSON endpoints the pages' scripts call: suggestions, reviews, cart, newsletter."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from webserv.sites.shop import db
from webserv.sites.shop.storefront.cart import add_to_cart
from webserv.sites.shop.storefront.common import (
    MAX_ID,
    MAX_PAGE,
    MAX_QTY,
    Conn,
    Id,
    cart_cookie,
    cart_count,
    ensure_cart,
    find_cart,
)
from webserv.sites.shop.storefront.product import get_product
from webserv.sites.shop.storefront.search import MAX_QUERY, like_pattern, search_where

router = APIRouter(prefix="/api")

REVIEWS_PER_PAGE = 5
SUGGESTIONS = 8
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class Suggestion(BaseModel):
    id: int
    name: str
    url: str
    price_cents: int
    image: str | None


class Suggestions(BaseModel):
    query: str
    products: list[Suggestion]
    categories: list[dict[str, str]]


@router.get("/suggest")
def suggest(
    conn: Conn, q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY)]
) -> Suggestions:
    """Products and categories matching what has been typed so far."""
    if not q.split():
        return Suggestions(query=q, products=[], categories=[])
    where, params = search_where(q)
    rows = conn.execute(
        f"""SELECT p.id, p.name, coalesce(p.special_cents, p.price_cents) AS price_cents,
                   (SELECT path FROM product_images i WHERE i.product_id = p.id
                    ORDER BY i.position, i.id LIMIT 1) AS image
            FROM products p WHERE p.status = 'enabled' AND {where}
            ORDER BY (p.name LIKE ?) DESC, p.rating_count DESC, p.id LIMIT ?""",
        [*params, f"{q.strip()}%", SUGGESTIONS],
    ).fetchall()
    cats = conn.execute(
        "SELECT name, slug FROM categories WHERE name LIKE ? ESCAPE '\\' ORDER BY position LIMIT 3",
        (like_pattern(q.strip()),),
    ).fetchall()
    return Suggestions(
        query=q,
        products=[
            Suggestion(
                id=r["id"],
                name=r["name"],
                url=f"/products/{r['id']}",
                price_cents=r["price_cents"],
                image=f"/{r['image']}" if r["image"] else None,
            )
            for r in rows
        ],
        categories=[{"name": c["name"], "url": f"/category/{c['slug']}"} for c in cats],
    )


class Review(BaseModel):
    id: int
    nickname: str
    rating: int
    title: str
    body: str
    created_at: str


class ReviewPage(BaseModel):
    product_id: int
    page: int
    pages: int
    total: int
    rating_avg: float
    reviews: list[Review]


@router.get("/products/{product_id}/reviews")
def reviews(
    conn: Conn, product_id: Id, page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1
) -> ReviewPage:
    """One page of a product's approved reviews, newest first."""
    product = get_product(conn, product_id)
    total = product["rating_count"]
    pages = max(1, -(-total // REVIEWS_PER_PAGE))
    if page > pages:
        raise HTTPException(404, f"Page {page} does not exist: there are {pages} page(s).")
    rows = conn.execute(
        """SELECT id, nickname, rating, title, body, created_at FROM reviews
           WHERE product_id = ? AND status = 'approved' ORDER BY created_at DESC, id DESC
           LIMIT ? OFFSET ?""",
        (product_id, REVIEWS_PER_PAGE, (page - 1) * REVIEWS_PER_PAGE),
    ).fetchall()
    return ReviewPage(
        product_id=product_id,
        page=page,
        pages=pages,
        total=total,
        rating_avg=product["rating_avg"],
        reviews=[Review(**dict(r)) for r in rows],
    )


class CartAdd(BaseModel):
    product_id: int = Field(ge=1, le=MAX_ID)
    qty: int = Field(1, ge=1, le=MAX_QTY)
    options: dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=200)]] = (
        Field(default_factory=dict, max_length=10)
    )


@router.post("/cart")
def api_add_to_cart(request: Request, conn: Conn, item: CartAdd) -> JSONResponse:
    """Add to cart without leaving the page; answers with the new item count."""
    cart = ensure_cart(request, conn)
    message = add_to_cart(conn, cart, item.product_id, item.qty, item.options)
    body = {"message": message, "cart_count": cart_count(conn, cart)}
    return cart_cookie(JSONResponse(body), cart)


@router.get("/cart")
def api_cart(request: Request, conn: Conn) -> dict[str, int]:
    return {"cart_count": cart_count(conn, find_cart(request, conn))}


class Subscription(BaseModel):
    email: str = Field(min_length=3, max_length=254)


@router.post("/newsletter")
def subscribe(conn: Conn, sub: Subscription) -> dict[str, str]:
    email = sub.email.strip()
    if not EMAIL_RE.match(email):
        raise HTTPException(400, "Enter a valid email address, like name@example.com.")
    conn.execute(
        "INSERT OR IGNORE INTO newsletter (email, created_at) VALUES (?, ?)", (email, db.now())
    )
    return {"message": f"Thank you! {email} is subscribed to our newsletter."}
