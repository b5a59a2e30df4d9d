"""What every storefront page shares: the signed-in customer, the cart, the category menu,
input limits and pagination."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from webserv.sites.shop import csrf, db
from webserv.sites.shop.security import new_token
from webserv.sites.shop.web import render

MAX_ID = 2**63 - 1  # SQLite's INTEGER range; larger ids would overflow the driver
MAX_PAGE = 10_000
MAX_QTY = 99
MAX_TOKEN = 100
PAGE_SIZE = 12
SESSION_COOKIE = "shop_session"
CART_COOKIE = "shop_cart"
CONSENT_COOKIE = "shop_consent"
SESSION_TTL = timedelta(days=7)
CART_TTL = timedelta(days=30)

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a database id")]
PageNo = Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE, description="1-based page number")]
Conn = Annotated[sqlite3.Connection, Depends(db.get_db, scope="function")]


async def read_form(request: Request) -> FormData:
    """The posted form, for handlers whose field names are data (``qty_<item id>``)."""
    return await request.form()


FormFields = Annotated[FormData, Depends(read_form)]


def not_found(kind: str, ident: object) -> HTTPException:
    return HTTPException(404, f"{kind} {ident} does not exist.")


def bad_request(message: str) -> HTTPException:
    return HTTPException(400, message)


def _token(request: Request, name: str) -> str | None:
    token = request.cookies.get(name)
    return token if token and len(token) <= MAX_TOKEN else None


def current_customer(request: Request, conn: sqlite3.Connection) -> sqlite3.Row | None:
    """The customer signed in with this request's session cookie (looked up once)."""
    if not hasattr(request.state, "customer"):
        token = _token(request, SESSION_COOKIE)
        request.state.customer = (
            conn.execute(
                "SELECT c.* FROM sessions s JOIN customers c ON c.id = s.customer_id"
                " WHERE s.token = ? AND s.expires_at > ?",
                (token, db.now()),
            ).fetchone()
            if token
            else None
        )
    return request.state.customer


def start_session(conn: sqlite3.Connection, response: Response, customer_id: int) -> None:
    started = datetime.now(UTC)
    token = new_token()
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (db.now(),))
    conn.execute(
        "INSERT INTO sessions (token, customer_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (token, customer_id, db.now(), (started + SESSION_TTL).strftime("%Y-%m-%d %H:%M:%S")),
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
    )


@dataclass
class Cart:
    """The shopper's cart: by cookie, else the signed-in customer's latest cart."""

    id: int
    token: str


def find_cart(request: Request, conn: sqlite3.Connection) -> Cart | None:
    token = _token(request, CART_COOKIE)
    row = conn.execute("SELECT id, token FROM carts WHERE token = ?", (token,)).fetchone()
    customer = current_customer(request, conn)
    if row is None and customer is not None:
        row = conn.execute(
            "SELECT id, token FROM carts WHERE customer_id = ? ORDER BY updated_at DESC, id DESC",
            (customer["id"],),
        ).fetchone()
    return Cart(row["id"], row["token"]) if row else None


def ensure_cart(request: Request, conn: sqlite3.Connection) -> Cart:
    """The shopper's cart, created if there is none yet (set :func:`cart_cookie` on the reply)."""
    cart = find_cart(request, conn)
    if cart is not None:
        conn.execute("UPDATE carts SET updated_at = ? WHERE id = ?", (db.now(), cart.id))
        return cart
    customer = current_customer(request, conn)
    token = new_token()
    cur = conn.execute(
        "INSERT INTO carts (token, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (token, customer["id"] if customer else None, db.now(), db.now()),
    )
    return Cart(int(cur.lastrowid or 0), token)


R = TypeVar("R", bound=Response)


def cart_cookie(response: R, cart: Cart) -> R:
    response.set_cookie(
        CART_COOKIE,
        cart.token,
        max_age=int(CART_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
    )
    return response


def cart_count(conn: sqlite3.Connection, cart: Cart | None) -> int:
    if cart is None:
        return 0
    row = conn.execute("SELECT coalesce(sum(qty), 0) FROM cart_items WHERE cart_id = ?", (cart.id,))
    return int(row.fetchone()[0])


def category_menu(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Departments, each with its subcategories, in menu order."""
    rows = conn.execute("SELECT * FROM categories ORDER BY position, id").fetchall()
    menu = [dict(r) | {"children": []} for r in rows if r["parent_id"] is None]
    by_id = {m["id"]: m for m in menu}
    for row in rows:
        if row["parent_id"] in by_id:
            by_id[row["parent_id"]]["children"].append(dict(row))
    return menu


def page(
    request: Request, conn: sqlite3.Connection, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``templates/store/<name>`` inside the store layout (header, menu, cart count,
    the session's form key)."""
    response = render(
        request,
        f"store/{name}",
        status_code=status_code,
        customer=current_customer(request, conn),
        cart_count=cart_count(conn, find_cart(request, conn)),
        menu=category_menu(conn),
        show_consent=CONSENT_COOKIE not in request.cookies,
        form_key=csrf.form_key(request, SESSION_COOKIE),
        **context,
    )
    return csrf.remember(request, response)


@dataclass
class Pagination:
    """Page links for a listing of ``total`` rows shown ``PAGE_SIZE`` at a time."""

    page: int
    pages: int
    total: int
    links: list[tuple[int, str]]
    prev_url: str | None
    next_url: str | None
    first_url: str
    last_url: str

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    @property
    def first_row(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + PAGE_SIZE)


def paginate(request: Request, page_no: int, total: int) -> Pagination:
    """Pagination for ``page_no``; a page past the last one is a 404, not an empty page."""
    pages = max(1, -(-total // PAGE_SIZE))
    if page_no > pages:
        raise HTTPException(404, f"Page {page_no} does not exist: there are {pages} page(s).")

    def url(n: int) -> str:
        return str(request.url.include_query_params(page=n).replace(scheme="", netloc=""))

    window = range(max(1, page_no - 2), min(pages, page_no + 2) + 1)
    return Pagination(
        page=page_no,
        pages=pages,
        total=total,
        links=[(n, url(n)) for n in window],
        prev_url=url(page_no - 1) if page_no > 1 else None,
        next_url=url(page_no + 1) if page_no < pages else None,
        first_url=url(1),
        last_url=url(pages),
    )
