"""Checkout: shipping address and method, placing the order, the confirmation page."""

from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webserv.sites.shop import db
from webserv.sites.shop.shipping import METHODS
from webserv.sites.shop.storefront.cart import cart_lines
from webserv.sites.shop.storefront.common import (
    Conn,
    FormFields,
    current_customer,
    find_cart,
    not_found,
    page,
)

router = APIRouter()

COUNTRIES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "AU": "Australia",
}
FIELDS: dict[str, tuple[str, int, int]] = {  # name -> (label, min length, max length)
    "first_name": ("First name", 1, 60),
    "last_name": ("Last name", 1, 60),
    "street": ("Street address", 3, 120),
    "city": ("City", 2, 60),
    "region": ("State/Province", 2, 60),
    "postcode": ("ZIP/Postal code", 3, 10),
    "country": ("Country", 2, 2),
    "phone": ("Phone number", 7, 20),
}
NAME_RE = re.compile(r"^[^\W\d_][\w .'-]*$")
PHONE_RE = re.compile(r"^\+?[\d ()-]{7,20}$")
US_ZIP_RE = re.compile(r"^\d{5}(-\d{4})?$")
POSTCODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]$")


def validate_address(form: dict[str, str]) -> dict[str, str]:
    """Per-field messages for what is wrong with a shipping address (empty when valid)."""
    errors: dict[str, str] = {}
    for name, (label, low, high) in FIELDS.items():
        value = form.get(name, "")
        if not value:
            errors[name] = f"{label} is required."
        elif not low <= len(value) <= high:
            errors[name] = f"{label} must be {low} to {high} characters long."
    for name in ("first_name", "last_name", "city"):
        if name not in errors and not NAME_RE.match(form[name]):
            errors[name] = f"{FIELDS[name][0]} may contain only letters, spaces, - . and '."
    if "country" not in errors and form["country"] not in COUNTRIES:
        errors["country"] = "Choose a country from the list."
    if "postcode" not in errors:
        pattern = US_ZIP_RE if form.get("country") == "US" else POSTCODE_RE
        if not pattern.match(form["postcode"]):
            errors["postcode"] = (
                "Enter a 5-digit ZIP code (or ZIP+4, e.g. 78701-1234)."
                if form.get("country") == "US"
                else "Enter a valid postal code."
            )
    if "phone" not in errors and not PHONE_RE.match(form["phone"]):
        errors["phone"] = "Enter a phone number of digits, spaces, ( ) - and an optional +."
    if form.get("shipping_method") not in METHODS:
        errors["shipping_method"] = "Choose a shipping method."
    return errors


def _login_redirect() -> RedirectResponse:
    query = urlencode({"next": "/checkout", "msg": "checkout"})
    return RedirectResponse(f"/account/login?{query}", status_code=303)


def _checkout_page(
    request: Request,
    conn: sqlite3.Connection,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    lines = cart_lines(conn, find_cart(request, conn))
    subtotal = sum(line["row_cents"] for line in lines)
    return page(
        request,
        conn,
        "checkout.html",
        status_code=status_code,
        lines=lines,
        subtotal=subtotal,
        form=form,
        errors=errors,
        error=error,
        countries=COUNTRIES,
        fields=FIELDS,
        methods=[(m, m.cost(subtotal)) for m in METHODS.values()],
    )


@router.get("/checkout", response_class=HTMLResponse)
def checkout(request: Request, conn: Conn) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return _login_redirect()
    if not cart_lines(conn, find_cart(request, conn)):
        return RedirectResponse("/cart", status_code=303)
    form = {name: str(customer[name]) for name in FIELDS} | {"shipping_method": "standard"}
    return _checkout_page(request, conn, form, {})


def _take_stock(conn: sqlite3.Connection, lines: list[dict[str, Any]]) -> None:
    """Take the cart's lines out of stock; a product disabled or short answers 409."""
    for line in lines:
        if line["status"] != "enabled":
            raise HTTPException(409, f"{line['name']} is no longer available; remove it first.")
        taken = conn.execute(
            "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
            (line["qty"], line["product_id"], line["qty"]),
        ).rowcount
        if not taken:
            raise HTTPException(
                409, f"Only {line['stock']} of {line['name']} left in stock; update your cart."
            )


def _place_order(
    conn: sqlite3.Connection,
    customer: sqlite3.Row,
    lines: list[dict[str, Any]],
    form: dict[str, str],
) -> str:
    """Create the order, take its items out of stock, empty the cart; returns the number."""
    _take_stock(conn, lines)
    subtotal = sum(line["row_cents"] for line in lines)
    method = METHODS[form["shipping_method"]]
    shipping = method.cost(subtotal)
    now = db.now()
    cur = conn.execute(
        """INSERT INTO orders (number, customer_id, status, shipping_method, subtotal_cents,
               shipping_cents, total_cents, ship_name, ship_street, ship_city, ship_region,
               ship_postcode, ship_country, ship_phone, created_at, updated_at)
           VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            f"new-{customer['id']}-{now}",
            customer["id"],
            method.code,
            subtotal,
            shipping,
            subtotal + shipping,
            f"{form['first_name']} {form['last_name']}",
            form["street"],
            form["city"],
            form["region"],
            form["postcode"],
            form["country"],
            form["phone"],
            now,
            now,
        ),
    )
    order_id = int(cur.lastrowid or 0)
    number = f"{order_id:09d}"
    conn.execute("UPDATE orders SET number = ? WHERE id = ?", (number, order_id))
    conn.executemany(
        """INSERT INTO order_items (order_id, product_id, sku, name, options, price_cents, qty)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [
            (
                order_id,
                line["product_id"],
                line["sku"],
                line["name"],
                line["options"],
                line["price_cents"],
                line["qty"],
            )
            for line in lines
        ],
    )
    conn.execute(
        "INSERT INTO order_history (order_id, status, comment, author, created_at)"
        " VALUES (?, 'pending', 'Order placed.', 'customer', ?)",
        (order_id, now),
    )
    conn.executemany("DELETE FROM cart_items WHERE id = ?", [(line["id"],) for line in lines])
    return number


@router.post("/checkout", response_class=HTMLResponse)
def place_order(request: Request, conn: Conn, posted: FormFields) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return _login_redirect()
    form = {name: str(posted.get(name, "")).strip()[:200] for name in [*FIELDS, "shipping_method"]}
    lines = cart_lines(conn, find_cart(request, conn))
    if not lines:
        return _checkout_page(
            request, conn, form, {}, 400, "Your shopping cart is empty; add something first."
        )
    errors = validate_address(form)
    if errors:
        message = f"Please correct {len(errors)} field(s) below."
        return _checkout_page(request, conn, form, errors, 400, message)
    try:
        number = _place_order(conn, customer, lines, form)
    except HTTPException as exc:
        conn.rollback()
        return _checkout_page(request, conn, form, {}, exc.status_code, str(exc.detail))
    return RedirectResponse(f"/checkout/success/{number}", status_code=303)


@router.get("/checkout/success/{number}", response_class=HTMLResponse)
def success(request: Request, conn: Conn, number: str) -> Response:
    customer = current_customer(request, conn)
    order = (
        conn.execute(
            "SELECT * FROM orders WHERE number = ? AND customer_id = ?",
            (number[:20], customer["id"]),
        ).fetchone()
        if customer
        else None
    )
    if order is None:
        raise not_found("Order", repr(number[:20]))
    return page(request, conn, "success.html", order=order)
