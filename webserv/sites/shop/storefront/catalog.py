"""Home page, category and brand listings (filters, sort, pagination), help pages."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from webserv.sites.shop.shipping import FREE_STANDARD_FROM_CENTS, METHODS
from webserv.sites.shop.storefront.common import (
    MAX_ID,
    MAX_PAGE,
    PAGE_SIZE,
    Conn,
    Id,
    bad_request,
    not_found,
    page,
    paginate,
)

router = APIRouter()

MAX_DOLLARS = 1_000_000
SORTS: dict[str, tuple[str, str]] = {
    "position": ("Featured", "p.is_featured DESC, p.rating_count DESC, p.id"),
    "price_asc": ("Price: low to high", "final_cents ASC, p.id"),
    "price_desc": ("Price: high to low", "final_cents DESC, p.id"),
    "name": ("Product name", "p.name COLLATE NOCASE, p.id"),
    "rating": ("Top rated", "p.rating_avg DESC, p.rating_count DESC, p.id"),
    "newest": ("Newest", "p.created_at DESC, p.id DESC"),
}
Sort = Literal["position", "price_asc", "price_desc", "name", "rating", "newest"]

CARD_SQL = """
SELECT p.id, p.name, p.slug, p.price_cents, p.special_cents, p.stock, p.options_json,
       p.rating_avg, p.rating_count, coalesce(p.special_cents, p.price_cents) AS final_cents,
       b.id AS brand_id, b.name AS brand,
       (SELECT path FROM product_images i WHERE i.product_id = p.id
        ORDER BY i.position, i.id LIMIT 1) AS image
FROM products p JOIN brands b ON b.id = p.brand_id
WHERE p.status = 'enabled' AND {where}
"""


def _blank_is_none(value: object) -> object:
    """Empty form fields (``?price_min=``) mean "no filter", not a malformed number."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalInt = Annotated[int | None, BeforeValidator(_blank_is_none)]


class ListingQuery(BaseModel):
    """The query string of a product listing: filters, sort and page."""

    model_config = ConfigDict(extra="ignore")

    price_min: OptionalInt = Field(None, ge=0, le=MAX_DOLLARS, description="dollars")
    price_max: OptionalInt = Field(None, ge=0, le=MAX_DOLLARS, description="dollars")
    rating: OptionalInt = Field(None, ge=1, le=5, description="minimum average stars")
    brand: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=50)
    sort: Sort = "position"
    page: int = Field(1, ge=1, le=MAX_PAGE)

    def where(self) -> tuple[list[str], list[Any]]:
        if (
            self.price_min is not None
            and self.price_max is not None
            and self.price_min > self.price_max
        ):
            raise bad_request(
                f"The minimum price (${self.price_min}) is above the maximum (${self.price_max})."
            )
        clauses: list[str] = []
        params: list[Any] = []
        if self.price_min is not None:
            clauses.append("coalesce(p.special_cents, p.price_cents) >= ?")
            params.append(self.price_min * 100)
        if self.price_max is not None:
            clauses.append("coalesce(p.special_cents, p.price_cents) <= ?")
            params.append(self.price_max * 100 + 99)
        if self.rating is not None:
            clauses.append("p.rating_avg >= ?")
            params.append(self.rating)
        if self.brand:
            clauses.append(f"p.brand_id IN ({', '.join('?' * len(self.brand))})")
            params.extend(self.brand)
        return clauses, params


def product_cards(
    conn: sqlite3.Connection, where: str, params: list[Any], order: str, limit: int, offset: int = 0
) -> list[sqlite3.Row]:
    sql = CARD_SQL.format(where=where) + f" ORDER BY {order} LIMIT ? OFFSET ?"
    return conn.execute(sql, [*params, limit, offset]).fetchall()


def count_products(conn: sqlite3.Connection, where: str, params: list[Any]) -> int:
    sql = f"SELECT count(*) FROM products p WHERE p.status = 'enabled' AND {where}"
    return int(conn.execute(sql, params).fetchone()[0])


def listing(
    request: Request,
    conn: sqlite3.Connection,
    base_where: str,
    base_params: list[Any],
    query: ListingQuery,
    **context: Any,
) -> HTMLResponse:
    """Render a filtered, sorted, paginated product listing over the ``base_where`` set."""
    clauses, params = query.where()
    where = " AND ".join([base_where, *clauses])
    all_params = [*base_params, *params]
    pager = paginate(request, query.page, count_products(conn, where, all_params))
    products = product_cards(conn, where, all_params, SORTS[query.sort][1], PAGE_SIZE, pager.offset)
    brands = conn.execute(
        f"""SELECT b.id, b.name, count(*) AS n FROM products p JOIN brands b ON b.id = p.brand_id
            WHERE p.status = 'enabled' AND {base_where} GROUP BY b.id ORDER BY b.name""",
        base_params,
    ).fetchall()
    return page(
        request,
        conn,
        "listing.html",
        products=products,
        pager=pager,
        query=query,
        sorts={k: label for k, (label, _) in SORTS.items()},
        brands=brands,
        **context,
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, conn: Conn) -> HTMLResponse:
    featured = product_cards(conn, "p.is_featured = 1", [], "p.rating_count DESC, p.id", 12)
    top_rated = product_cards(
        conn, "p.rating_count >= 3", [], "p.rating_avg DESC, p.rating_count DESC, p.id", 4
    )
    return page(request, conn, "home.html", featured=featured, top_rated=top_rated)


@router.get("/category/{slug}", response_class=HTMLResponse)
def category(
    request: Request, conn: Conn, slug: str, query: Annotated[ListingQuery, Query()]
) -> HTMLResponse:
    cat = conn.execute("SELECT * FROM categories WHERE slug = ?", (slug[:200],)).fetchone()
    if cat is None:
        raise not_found("Category", repr(slug[:200]))
    parent = (
        conn.execute("SELECT * FROM categories WHERE id = ?", (cat["parent_id"],)).fetchone()
        if cat["parent_id"]
        else None
    )
    children = conn.execute(
        "SELECT * FROM categories WHERE parent_id = ? ORDER BY position", (cat["id"],)
    ).fetchall()
    return listing(
        request,
        conn,
        "p.category_id IN (SELECT id FROM categories WHERE id = ? OR parent_id = ?)",
        [cat["id"], cat["id"]],
        query,
        heading=cat["name"],
        intro=cat["description"],
        crumbs=[(parent["name"], f"/category/{parent['slug']}")] if parent else [],
        children=children,
    )


@router.get("/brands/{brand_id}", response_class=HTMLResponse)
def brand(
    request: Request, conn: Conn, brand_id: Id, query: Annotated[ListingQuery, Query()]
) -> HTMLResponse:
    row = conn.execute("SELECT * FROM brands WHERE id = ?", (brand_id,)).fetchone()
    if row is None:
        raise not_found("Brand", brand_id)
    return listing(
        request,
        conn,
        "p.brand_id = ?",
        [brand_id],
        query,
        heading=f"{row['name']} store",
        intro=f"Everything we carry from {row['name']}.",
        crumbs=[("Brands", None)],
        children=[],
    )


HELP = {
    "size-guide": "Size guide",
    "shipping-returns": "Shipping and returns",
}


@router.get("/help/{topic}", response_class=HTMLResponse)
def help_page(request: Request, conn: Conn, topic: str) -> HTMLResponse:
    if topic not in HELP:
        raise not_found("Help page", repr(topic[:100]))
    return page(
        request,
        conn,
        f"help_{topic.replace('-', '_')}.html",
        heading=HELP[topic],
        methods=list(METHODS.values()),
        free_from=FREE_STANDARD_FROM_CENTS,
    )
