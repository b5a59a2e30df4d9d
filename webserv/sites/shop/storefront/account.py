"""Customer account: sign in/out, registration, order history, order detail, wish list."""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from webserv.sites.shop import db
from webserv.sites.shop.security import hash_password, verify_password
from webserv.sites.shop.storefront.common import (
    CART_COOKIE,
    MAX_ID,
    PAGE_SIZE,
    SESSION_COOKIE,
    Cart,
    Conn,
    PageNo,
    cart_cookie,
    current_customer,
    not_found,
    page,
    paginate,
    start_session,
)
from webserv.sites.shop.storefront.product import get_product

router = APIRouter(prefix="/account")

MAX_EMAIL = 254
MAX_PASSWORD = 1000
MIN_PASSWORD = 8
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
LOGIN_MESSAGES = {
    "checkout": "Sign in to check out. New here? Create an account first.",
    "wishlist": "Sign in to use your wish list.",
    "account": "Sign in to see your account.",
    "logged_out": "You have signed out.",
}
WISHLIST_MESSAGES = {
    "added": "The product was added to your wish list.",
    "removed": "The product was removed from your wish list.",
}


def safe_next(target: str | None, default: str = "/account") -> str:
    """Where to go after signing in: a page of this storefront only."""
    if (
        target
        and len(target) <= 2000
        and target.startswith("/")
        and not target.startswith(("//", "/admin"))
        and "\\" not in target
    ):
        return target
    return default


def login_redirect(next_url: str, reason: str) -> RedirectResponse:
    query = urlencode({"next": next_url, "msg": reason})
    return RedirectResponse(f"/account/login?{query}", status_code=303)


def _adopt_cart(request: Request, conn: sqlite3.Connection, customer_id: int) -> Cart | None:
    """On sign-in, merge the anonymous cart into the customer's own cart."""
    token = request.cookies.get(CART_COOKIE, "")[:100]
    guest = conn.execute(
        "SELECT id, token FROM carts WHERE token = ? AND customer_id IS NULL", (token,)
    ).fetchone()
    own = conn.execute(
        "SELECT id, token FROM carts WHERE customer_id = ? ORDER BY updated_at DESC, id DESC",
        (customer_id,),
    ).fetchone()
    if guest is None:
        return Cart(own["id"], own["token"]) if own else None
    if own is None:
        conn.execute("UPDATE carts SET customer_id = ? WHERE id = ?", (customer_id, guest["id"]))
        return Cart(guest["id"], guest["token"])
    for item in conn.execute("SELECT * FROM cart_items WHERE cart_id = ?", (guest["id"],)):
        conn.execute(
            """INSERT INTO cart_items (cart_id, product_id, options, qty) VALUES (?, ?, ?, ?)
               ON CONFLICT (cart_id, product_id, options)
               DO UPDATE SET qty = min(99, qty + excluded.qty)""",
            (own["id"], item["product_id"], item["options"], item["qty"]),
        )
    conn.execute("DELETE FROM carts WHERE id = ?", (guest["id"],))
    return Cart(own["id"], own["token"])


def _signed_in(
    request: Request, conn: sqlite3.Connection, customer_id: int, target: str
) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    start_session(conn, response, customer_id)
    cart = _adopt_cart(request, conn, customer_id)
    if cart is not None:
        cart_cookie(response, cart)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, conn: Conn, next: str = "/account", msg: str = "") -> Response:
    if current_customer(request, conn) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(
        request,
        conn,
        "login.html",
        next=safe_next(next),
        email="",
        notice=LOGIN_MESSAGES.get(msg),
        error=None,
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    conn: Conn,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/account"),
) -> Response:
    email = email.strip()
    target = safe_next(next)
    error, status, row = None, 400, None
    if not email or not password:
        error = "Enter both your email address and your password."
    elif len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
        error = "The email address or password is too long."
    else:
        row = conn.execute(
            "SELECT id, password_hash FROM customers WHERE email = ?", (email,)
        ).fetchone()
        if row is None or not verify_password(password, row["password_hash"]):
            row, status = None, 401
            error = "The account sign-in was incorrect. Check your email and password."
    if row is None:
        return page(
            request,
            conn,
            "login.html",
            status_code=status,
            next=target,
            email=email[:MAX_EMAIL],
            notice=None,
            error=error,
        )
    return _signed_in(request, conn, row["id"], target)


@router.post("/logout")
def logout(request: Request, conn: Conn) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")[:100]
    conn.execute("DELETE FROM sessions WHERE token = ? AND customer_id IS NOT NULL", (token,))
    response = RedirectResponse("/account/login?msg=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    response.delete_cookie(CART_COOKIE, httponly=True, samesite="lax")
    return response


REGISTER_FIELDS = ("first_name", "last_name", "email")


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, conn: Conn) -> HTMLResponse:
    return page(request, conn, "register.html", form=dict.fromkeys(REGISTER_FIELDS, ""), errors={})


@router.post("/register", response_class=HTMLResponse)
def register(
    request: Request,
    conn: Conn,
    first_name: str = Form(""),
    last_name: str = Form(""),
    email: str = Form(""),
    password: str = Form(""),
    password_confirm: str = Form(""),
) -> Response:
    form = {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "email": email.strip(),
    }
    errors: dict[str, str] = {}
    for name, label in (("first_name", "First name"), ("last_name", "Last name")):
        if not form[name]:
            errors[name] = f"{label} is required."
        elif len(form[name]) > 60:
            errors[name] = f"{label} must be at most 60 characters."
    if len(form["email"]) > MAX_EMAIL or not EMAIL_RE.match(form["email"]):
        errors["email"] = "Enter a valid email address, like name@example.com."
    elif conn.execute("SELECT 1 FROM customers WHERE email = ?", (form["email"],)).fetchone():
        errors["email"] = "An account with this email address already exists. Sign in instead."
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        errors["password"] = f"The password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters."
    elif password != password_confirm:
        errors["password_confirm"] = "The two passwords do not match."
    if errors:
        trimmed = {k: v[:MAX_EMAIL] for k, v in form.items()}
        return page(request, conn, "register.html", status_code=400, form=trimmed, errors=errors)
    cur = conn.execute(
        """INSERT INTO customers (email, password_hash, first_name, last_name, created_at)
           VALUES (?, ?, ?, ?, ?)""",
        (form["email"], hash_password(password), form["first_name"], form["last_name"], db.now()),
    )
    return _signed_in(request, conn, int(cur.lastrowid or 0), "/account?msg=welcome")


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, conn: Conn) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return login_redirect("/account", "account")
    recent = conn.execute(
        "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC, id DESC LIMIT 5",
        (customer["id"],),
    ).fetchall()
    return page(
        request,
        conn,
        "account.html",
        recent=recent,
        welcome=request.query_params.get("msg") == "welcome",
    )


@router.get("/orders", response_class=HTMLResponse)
def orders(request: Request, conn: Conn, page_no: PageNo = 1) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return login_redirect("/account/orders", "account")
    total = conn.execute(
        "SELECT count(*) FROM orders WHERE customer_id = ?", (customer["id"],)
    ).fetchone()[0]
    pager = paginate(request, page_no, total)
    rows = conn.execute(
        """SELECT o.*, (SELECT sum(qty) FROM order_items i WHERE i.order_id = o.id) AS items
           FROM orders o WHERE customer_id = ? ORDER BY created_at DESC, id DESC
           LIMIT ? OFFSET ?""",
        (customer["id"], PAGE_SIZE, pager.offset),
    ).fetchall()
    return page(request, conn, "orders.html", orders=rows, pager=pager)


@router.get("/orders/{number}", response_class=HTMLResponse)
def order_detail(request: Request, conn: Conn, number: str) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return login_redirect(f"/account/orders/{number[:20]}", "account")
    order = conn.execute(
        "SELECT * FROM orders WHERE number = ? AND customer_id = ?", (number[:20], customer["id"])
    ).fetchone()
    if order is None:
        raise not_found("Order", repr(number[:20]))
    items = conn.execute(
        "SELECT * FROM order_items WHERE order_id = ? ORDER BY id", (order["id"],)
    ).fetchall()
    history = conn.execute(
        "SELECT * FROM order_history WHERE order_id = ? ORDER BY created_at, id", (order["id"],)
    ).fetchall()
    return page(request, conn, "order.html", order=order, items=items, history=history)


@router.get("/wishlist", response_class=HTMLResponse)
def wishlist(request: Request, conn: Conn) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return login_redirect("/account/wishlist", "wishlist")
    items = conn.execute(
        """SELECT p.id, p.name, p.stock, p.options_json, w.added_at,
                  coalesce(p.special_cents, p.price_cents) AS final_cents,
                  (SELECT path FROM product_images i WHERE i.product_id = p.id
                   ORDER BY i.position, i.id LIMIT 1) AS image
           FROM wishlist w JOIN products p ON p.id = w.product_id
           WHERE w.customer_id = ? AND p.status = 'enabled' ORDER BY w.added_at DESC, p.id""",
        (customer["id"],),
    ).fetchall()
    return page(
        request,
        conn,
        "wishlist.html",
        items=items,
        message=WISHLIST_MESSAGES.get(request.query_params.get("msg", "")),
    )


@router.post("/wishlist/add")
def wishlist_add(
    request: Request, conn: Conn, product_id: int = Form(..., ge=1, le=MAX_ID)
) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return login_redirect(f"/products/{product_id}", "wishlist")
    get_product(conn, product_id)
    conn.execute(
        "INSERT OR IGNORE INTO wishlist (customer_id, product_id, added_at) VALUES (?, ?, ?)",
        (customer["id"], product_id, db.now()),
    )
    return RedirectResponse("/account/wishlist?msg=added", status_code=303)


@router.post("/wishlist/remove")
def wishlist_remove(
    request: Request, conn: Conn, product_id: int = Form(..., ge=1, le=MAX_ID)
) -> Response:
    customer = current_customer(request, conn)
    if customer is None:
        return login_redirect("/account/wishlist", "wishlist")
    gone = conn.execute(
        "DELETE FROM wishlist WHERE customer_id = ? AND product_id = ?",
        (customer["id"], product_id),
    ).rowcount
    if not gone:
        raise not_found("Wish list item for product", product_id)
    return RedirectResponse("/account/wishlist?msg=removed", status_code=303)
