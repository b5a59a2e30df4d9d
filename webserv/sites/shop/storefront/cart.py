"""The shopping cart: adding items (shared with the JSON API), the cart page, updates."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webserv.sites.shop import db
from webserv.sites.shop.storefront.common import (
    MAX_ID,
    MAX_QTY,
    Cart,
    Conn,
    FormFields,
    bad_request,
    cart_cookie,
    ensure_cart,
    find_cart,
    page,
)
from webserv.sites.shop.storefront.product import get_product, option_text

router = APIRouter()

MAX_OPTION_FIELDS = 10
CART_MESSAGES = {
    "updated": "Your shopping cart was updated.",
    "removed": "The item was removed from your shopping cart.",
    "added": "The item was added to your shopping cart.",
}


def parse_qty(raw: object, field: str = "Quantity") -> int:
    """A whole quantity from a form or JSON value, or a 400 saying what is wrong with it."""
    text = str(raw).strip()
    if not text.lstrip("-").isdigit() or len(text) > 12:
        raise bad_request(f"{field} must be a whole number, got {text[:20]!r}.")
    qty = int(text)
    if qty < 0:
        raise bad_request(f"{field} cannot be negative.")
    if qty > MAX_QTY:
        raise bad_request(f"{field} cannot be more than {MAX_QTY}.")
    return qty


def _in_cart(conn: sqlite3.Connection, cart: Cart, product_id: int, skip_item: int = 0) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(qty), 0) FROM cart_items WHERE cart_id = ? AND product_id = ?"
        " AND id != ?",
        (cart.id, product_id, skip_item),
    ).fetchone()
    return int(row[0])


def _check_stock(product: sqlite3.Row, wanted: int) -> None:
    if product["stock"] <= 0:
        raise HTTPException(409, f"{product['name']} is out of stock.")
    if wanted > product["stock"]:
        raise HTTPException(
            409,
            f"Only {product['stock']} of {product['name']} left in stock; "
            f"you asked for {wanted} in total.",
        )


def add_to_cart(
    conn: sqlite3.Connection, cart: Cart, product_id: int, qty: int, options: dict[str, str]
) -> str:
    """Put ``qty`` of a product (with chosen options) into ``cart``; returns a message."""
    if not 1 <= product_id <= MAX_ID:
        raise bad_request(f"Product id must be between 1 and {MAX_ID}.")
    if qty < 1:
        raise bad_request("Quantity must be at least 1.")
    product = get_product(conn, product_id)
    chosen = option_text(product, options)
    _check_stock(product, _in_cart(conn, cart, product_id) + qty)
    line = conn.execute(
        "SELECT id, qty FROM cart_items WHERE cart_id = ? AND product_id = ? AND options = ?",
        (cart.id, product_id, chosen),
    ).fetchone()
    if line is None:
        conn.execute(
            "INSERT INTO cart_items (cart_id, product_id, options, qty) VALUES (?, ?, ?, ?)",
            (cart.id, product_id, chosen, qty),
        )
    elif line["qty"] + qty > MAX_QTY:
        raise bad_request(f"You can have at most {MAX_QTY} of one item in your cart.")
    else:
        conn.execute("UPDATE cart_items SET qty = ? WHERE id = ?", (line["qty"] + qty, line["id"]))
    conn.execute("UPDATE carts SET updated_at = ? WHERE id = ?", (db.now(), cart.id))
    return f"You added {qty} × {product['name']} to your shopping cart."


def cart_lines(conn: sqlite3.Connection, cart: Cart | None) -> list[dict[str, Any]]:
    """The cart's items with current prices and stock."""
    if cart is None:
        return []
    rows = conn.execute(
        """SELECT ci.id, ci.product_id, ci.options, ci.qty, p.name, p.sku, p.stock, p.status,
                  coalesce(p.special_cents, p.price_cents) AS price_cents,
                  (SELECT path FROM product_images i WHERE i.product_id = p.id
                   ORDER BY i.position, i.id LIMIT 1) AS image
           FROM cart_items ci JOIN products p ON p.id = ci.product_id
           WHERE ci.cart_id = ? ORDER BY ci.id""",
        (cart.id,),
    ).fetchall()
    return [dict(r) | {"row_cents": r["price_cents"] * r["qty"]} for r in rows]


def cart_page(
    request: Request, conn: sqlite3.Connection, status_code: int = 200, error: str | None = None
) -> HTMLResponse:
    lines = cart_lines(conn, find_cart(request, conn))
    return page(
        request,
        conn,
        "cart.html",
        status_code=status_code,
        lines=lines,
        subtotal=sum(line["row_cents"] for line in lines),
        error=error,
        message=CART_MESSAGES.get(request.query_params.get("msg", "")),
    )


@router.get("/cart", response_class=HTMLResponse)
def view_cart(request: Request, conn: Conn) -> HTMLResponse:
    return cart_page(request, conn)


@router.post("/cart/add")
def add_form(request: Request, conn: Conn, form: FormFields) -> Response:
    """Add to cart from the product form when scripts are off (the page normally uses the API)."""
    options = {
        str(key)[len("option_") :]: str(value)[:200]
        for key, value in list(form.multi_items())[: 3 + MAX_OPTION_FIELDS]
        if str(key).startswith("option_")
    }
    raw_id = str(form.get("product_id", "")).strip()
    if not raw_id.isdigit() or len(raw_id) > 19:
        raise bad_request(f"Product id must be a positive whole number, got {raw_id[:20]!r}.")
    product_id = int(raw_id)
    qty = parse_qty(form.get("qty", "1"))
    cart = ensure_cart(request, conn)
    add_to_cart(conn, cart, product_id, qty, options)
    return cart_cookie(RedirectResponse("/cart?msg=added", status_code=303), cart)


@router.post("/cart/update", response_class=HTMLResponse)
def update_cart(request: Request, conn: Conn, form: FormFields) -> Response:
    cart = find_cart(request, conn)
    if cart is None:
        raise bad_request("Your shopping cart is empty; there is nothing to update.")
    lines = {str(line["id"]): line for line in cart_lines(conn, cart)}
    for key, value in form.multi_items():
        if not str(key).startswith("qty_"):
            continue
        item_id = str(key).removeprefix("qty_")
        if item_id not in lines:
            raise bad_request(f"Cart item {item_id[:20]!r} is not in your cart.")
        line = lines[item_id]
        qty = parse_qty(value, f"Quantity of {line['name']}")
        if qty == 0:
            conn.execute("DELETE FROM cart_items WHERE id = ?", (line["id"],))
            continue
        product = conn.execute("SELECT * FROM products WHERE id = ?", (line["product_id"],))
        try:
            _check_stock(
                product.fetchone(), _in_cart(conn, cart, line["product_id"], line["id"]) + qty
            )
        except HTTPException as exc:
            conn.rollback()
            return cart_page(request, conn, status_code=exc.status_code, error=exc.detail)
        conn.execute("UPDATE cart_items SET qty = ? WHERE id = ?", (qty, line["id"]))
    return RedirectResponse("/cart?msg=updated", status_code=303)


@router.post("/cart/remove")
def remove_item(
    request: Request, conn: Conn, item_id: int = Form(..., ge=1, le=MAX_ID)
) -> Response:
    cart = find_cart(request, conn)
    gone = (
        conn.execute(
            "DELETE FROM cart_items WHERE id = ? AND cart_id = ?", (item_id, cart.id)
        ).rowcount
        if cart
        else 0
    )
    if not gone:
        raise HTTPException(404, f"Cart item {item_id} is not in your cart.")
    return RedirectResponse("/cart?msg=removed", status_code=303)
