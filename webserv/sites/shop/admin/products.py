"""Catalog > Products: the products grid and the product edit form."""

from __future__ import annotations

import re
import sqlite3
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from webserv.sites.shop import db
from webserv.sites.shop.admin.auth import AdminRoute
from webserv.sites.shop.admin.common import MAX_ID, Id, not_found, render_admin
from webserv.sites.shop.admin.grid import (
    LIKE,
    MAX_SEARCH,
    Dollars,
    GridQuery,
    Links,
    Where,
    fetch_page,
    like,
)
from webserv.sites.shop.web import money

router = APIRouter(route_class=AdminRoute)

LOW_STOCK = 5
MAX_PRICE_CENTS = 100_000_000  # $1,000,000.00
MAX_STOCK = 1_000_000
MAX_NAME = 200
MAX_DESCRIPTION = 20_000
MONEY = re.compile(r"\$?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
WHOLE = re.compile(r"[+-]?\d{1,12}")


class ProductsQuery(GridQuery):
    """Filters of the products grid."""

    SORTS: ClassVar[dict[str, str]] = {
        "id": "p.id",
        "name": "p.name",
        "sku": "p.sku",
        "price": "p.price_cents",
        "stock": "p.stock",
        "status": "p.status",
        "rating": "p.rating_avg",
    }
    sort: str = "id"
    dir: Literal["asc", "desc"] = "asc"
    q: str | None = Field(None, max_length=MAX_SEARCH)
    category: int | None = Field(None, ge=1, le=MAX_ID)
    status: Literal["enabled", "disabled"] | None = None
    stock: Literal["in", "low", "out"] | None = None
    price_from: Dollars | None = None
    price_to: Dollars | None = None


def categories(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """All categories, parents before their children, with their depth for indenting."""
    return conn.execute(
        "WITH RECURSIVE tree(id, name, depth, path) AS ("
        " SELECT id, name, 0, printf('%06d', position) || name FROM categories"
        " WHERE parent_id IS NULL"
        " UNION ALL SELECT c.id, c.name, t.depth + 1,"
        " t.path || '/' || printf('%06d', c.position) || c.name"
        " FROM categories c JOIN tree t ON c.parent_id = t.id)"
        " SELECT id, name, depth FROM tree ORDER BY path"
    ).fetchall()


@router.get("/products", response_class=HTMLResponse)
def products_grid(
    request: Request,
    query: Annotated[ProductsQuery, Query()],
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    where = Where()
    if query.q:
        where.add(f"(p.name {LIKE} OR p.sku {LIKE})", like(query.q), like(query.q))
    if query.category:
        if (
            conn.execute("SELECT 1 FROM categories WHERE id = ?", (query.category,)).fetchone()
            is None
        ):
            raise not_found("Category", query.category)
        # A category's products include those of its sub-categories.
        where.add(
            "p.category_id IN (WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL"
            " SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)",
            query.category,
        )
    if query.status:
        where.add("p.status = ?", query.status)
    if query.stock == "out":
        where.add("p.stock = 0")
    elif query.stock == "low":
        where.add("p.stock BETWEEN 1 AND ?", LOW_STOCK)
    elif query.stock == "in":
        where.add("p.stock > 0")
    where.money_range("p.price_cents", query.price_from, query.price_to)
    select = (
        "SELECT p.*, c.name AS category_name,"
        " (SELECT path FROM product_images i WHERE i.product_id = p.id"
        " ORDER BY position, id LIMIT 1) AS image"
        f" FROM products p JOIN categories c ON c.id = p.category_id {where.sql}"
    )
    page = fetch_page(conn, select, where.params, query.order_by("p.id"), query)
    return render_admin(
        request,
        "products.html",
        section="products",
        query=query,
        page=page,
        links=Links.of(request, query),
        categories=categories(conn),
        low_stock=LOW_STOCK,
    )


def parse_money(value: Any) -> Any:
    """``"19.99"``, ``"$1,299"`` -> cents; anything else is refused with a clear reason."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("-"):
        raise ValueError("must not be negative")
    match = MONEY.fullmatch(text)
    if match is None:
        raise ValueError("enter an amount like 19.99")
    dollars, cents = match.group(1).replace(",", ""), (match.group(2) or "0").ljust(2, "0")
    amount = int(dollars) * 100 + int(cents) if len(dollars) <= 9 else MAX_PRICE_CENTS + 1
    if amount > MAX_PRICE_CENTS:
        raise ValueError(f"must be at most {money(MAX_PRICE_CENTS)}")
    return amount


def parse_whole(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if WHOLE.fullmatch(text) is None:
        raise ValueError("enter a whole number, like 25")
    return int(text)


def blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Cents = Annotated[int, BeforeValidator(parse_money)]
Whole = Annotated[int, BeforeValidator(parse_whole)]


class ProductForm(BaseModel):
    """The product edit form, as submitted; every field is checked before anything is saved."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    category_id: Annotated[Whole, Field(ge=1, le=MAX_ID)]
    price: Cents
    special_price: Annotated[Cents | None, BeforeValidator(blank_is_none)] = None
    stock: Annotated[Whole, Field(ge=0, le=MAX_STOCK)]
    status: Literal["enabled", "disabled"]
    is_featured: bool = False
    description: str = Field("", max_length=MAX_DESCRIPTION)


LABELS = {
    "name": "Name",
    "category_id": "Category",
    "price": "Price",
    "special_price": "Special price",
    "stock": "Quantity in stock",
    "status": "Status",
    "is_featured": "Featured",
    "description": "Description",
}


def form_errors(exc: ValidationError) -> dict[str, str]:
    """One readable message per form field."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0])
        text = error["msg"].removeprefix("Value error, ")
        errors.setdefault(name, f"{LABELS.get(name, name)}: {text}.".replace("..", "."))
    return errors


def load_product(conn: sqlite3.Connection, product_id: int) -> sqlite3.Row:
    product = conn.execute(
        "SELECT p.*, b.name AS brand_name FROM products p JOIN brands b ON b.id = p.brand_id"
        " WHERE p.id = ?",
        (product_id,),
    ).fetchone()
    if product is None:
        raise not_found("Product", product_id)
    return product


def storefront_url(product: sqlite3.Row) -> str:
    return f"/products/{product['id']}"


def edit_page(
    request: Request,
    conn: sqlite3.Connection,
    product: sqlite3.Row,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    images = conn.execute(
        "SELECT path, alt FROM product_images WHERE product_id = ? ORDER BY position, id",
        (product["id"],),
    ).fetchall()
    reviews = conn.execute(
        "SELECT status, COUNT(*) AS n FROM reviews WHERE product_id = ? GROUP BY status",
        (product["id"],),
    ).fetchall()
    return render_admin(
        request,
        "product_edit.html",
        status_code=422 if errors else 200,
        section="products",
        product=product,
        values=values,
        errors=errors or {},
        categories=categories(conn),
        images=images,
        review_counts={row["status"]: row["n"] for row in reviews},
        storefront_url=storefront_url(product),
    )


def cents_text(cents: int | None) -> str:
    return "" if cents is None else f"{cents // 100}.{cents % 100:02d}"


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product_edit(
    request: Request,
    product_id: Id,
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    product = load_product(conn, product_id)
    values = {
        "name": product["name"],
        "category_id": str(product["category_id"]),
        "price": cents_text(product["price_cents"]),
        "special_price": cents_text(product["special_cents"]),
        "stock": str(product["stock"]),
        "status": product["status"],
        "is_featured": bool(product["is_featured"]),
        "description": product["description"],
    }
    return edit_page(request, conn, product, values)


@router.post("/products/{product_id}", response_class=HTMLResponse)
def product_save(
    request: Request,
    product_id: Id,
    name: str = Form(""),
    category_id: str = Form(""),
    price: str = Form(""),
    special_price: str = Form(""),
    stock: str = Form(""),
    status: str = Form(""),
    is_featured: str | None = Form(None),
    description: str = Form(""),
    conn: sqlite3.Connection = Depends(db.get_db, scope="function"),
) -> Response:
    product = load_product(conn, product_id)
    values: dict[str, Any] = {
        "name": name,
        "category_id": category_id,
        "price": price,
        "special_price": special_price,
        "stock": stock,
        "status": status,
        "is_featured": is_featured is not None,
        "description": description,
    }
    try:
        form = ProductForm.model_validate(values)
    except ValidationError as exc:
        errors = form_errors(exc)
    else:
        errors = {}
        if (
            conn.execute("SELECT 1 FROM categories WHERE id = ?", (form.category_id,)).fetchone()
            is None
        ):
            errors["category_id"] = f"Category: there is no category {form.category_id}."
        if form.special_price is not None and form.special_price >= form.price:
            errors["special_price"] = "Special price: must be lower than the price."
    if errors:
        shown = {k: v[:MAX_DESCRIPTION] if isinstance(v, str) else v for k, v in values.items()}
        return edit_page(request, conn, product, shown, errors)
    conn.execute(
        "UPDATE products SET name = ?, category_id = ?, price_cents = ?, special_cents = ?,"
        " stock = ?, status = ?, is_featured = ?, description = ?, updated_at = ? WHERE id = ?",
        (
            form.name,
            form.category_id,
            form.price,
            form.special_price,
            form.stock,
            form.status,
            int(form.is_featured),
            form.description,
            db.now(),
            product_id,
        ),
    )
    return RedirectResponse(f"/admin/products/{product_id}?msg=product_saved", status_code=303)
