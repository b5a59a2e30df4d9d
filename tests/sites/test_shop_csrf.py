"""The shop's forgery protection: every state-changing request must carry the form key of the
session it acts for (a hidden ``form_key`` field of the page's forms, or the ``X-Form-Key``
header its scripts send); anything else is refused with a 403 that says so and saves nothing.

The attack it stops: a page on another port of the same host is the same *site*, so the
browser sends the shop's ``SameSite=Lax`` cookies along with the forms it auto-submits."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import html

from webserv.env.login import log_in, session_client
from webserv.sites.shop import accounts
from webserv.sites.shop.app import create_app
from webserv.sites.shop.plugin import site
from webserv.sites.spec import Login

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SIMPLE_PRODUCT = (
    "SELECT id FROM products WHERE status = 'enabled' AND stock > 5 AND options_json = '{}'"
    " ORDER BY id LIMIT 1"
)


def dump(data_dir: Path) -> list[str]:
    """Everything the shop has saved, as SQL."""
    conn = sqlite3.connect(data_dir / "shop.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def key_on(client: TestClient, path: str) -> str:
    """The form key the page at ``path`` gives its forms and scripts (all the same one)."""
    doc = html.fromstring(client.get(path).text)
    keys = set(doc.xpath("//form[@method='post']/input[@name='form_key']/@value"))
    keys.update(doc.xpath("//meta[@name='form-key']/@content"))
    assert len(keys) == 1, f"{path} has form keys {keys}"
    return keys.pop()


def sign_in_admin(client: TestClient) -> str:
    """Sign in through the admin login form as a browser would; return the admin's form key."""
    form = {
        "form_key": key_on(client, "/admin/login"),
        "username": accounts.ADMIN.login,
        "password": accounts.ADMIN.password,
    }
    assert client.post("/admin/login", data=form, follow_redirects=False).status_code == 303
    return key_on(client, "/admin/dashboard")


def sign_in_customer(client: TestClient) -> str:
    """Sign in through the storefront login form; return the customer's form key."""
    form = {
        "form_key": key_on(client, "/account/login"),
        "email": accounts.CUSTOMER.login,
        "password": accounts.CUSTOMER.password,
    }
    assert client.post("/account/login", data=form, follow_redirects=False).status_code == 303
    return key_on(client, "/")


def refusal(response) -> str:  # type: ignore[no-untyped-def]
    if response.headers["content-type"].startswith("application/json"):
        return response.json()["error"]
    return html.fromstring(response.text).xpath("string(//p[@class='error-message'])")


def test_cross_site_admin_forms_change_nothing(shop_client: TestClient, shop_data_dir: Path):
    """The reported attack: with the admin signed in, forms posted from another page rename a
    product and delete a review, the browser adding the admin's cookie."""
    sign_in_admin(shop_client)
    conn = sqlite3.connect(shop_data_dir / "shop.db")
    product = conn.execute("SELECT * FROM products WHERE id = 1").fetchone()
    review_id = conn.execute("SELECT min(id) FROM reviews").fetchone()[0]
    before = dump(shop_data_dir)
    rename = {
        "name": "Pwned",
        "category_id": str(product[4]),
        "price": "1.00",
        "stock": "1",
        "status": "enabled",
    }
    delete = {"action": "delete", "review_id": str(review_id)}
    # What another site can send: no key, or one it made up.
    for extra in ({}, {"form_key": "0" * 32}):
        for path, form in (("/admin/products/1", rename), ("/admin/reviews/moderate", delete)):
            response = shop_client.post(path, data={**form, **extra}, follow_redirects=False)
            assert response.status_code == 403, (path, extra, response.status_code)
            assert "form key" in refusal(response) and "nothing was saved" in refusal(response)
    assert dump(shop_data_dir) == before


def test_a_key_works_only_for_its_own_session(shop_data_dir: Path):
    """Another site can sign in itself: its own session's key must not work for the victim."""
    app = create_app(shop_data_dir)
    with TestClient(app) as attacker, TestClient(app) as victim:
        stolen = sign_in_admin(attacker)
        own = sign_in_admin(victim)
        assert stolen != own
        form = {"action": "approve", "review_id": "1", "form_key": stolen}
        assert victim.post("/admin/reviews/moderate", data=form).status_code == 403
        form["form_key"] = own
        assert victim.post("/admin/reviews/moderate", data=form).status_code == 200


def test_every_state_changing_route_needs_the_key(shop_data_dir: Path):
    """Every POST/PUT/PATCH/DELETE route of the app, signed in on both sides, refuses a request
    without the key or with a wrong one, and saves nothing."""
    app = create_app(shop_data_dir)
    routes = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in UNSAFE
    ]
    assert len(routes) >= 17
    with TestClient(app) as client:
        sign_in_admin(client)
        sign_in_customer(client)
        before = dump(shop_data_dir)
        unprotected = []
        for method, path in routes:
            for headers in ({}, {"X-Form-Key": "wrong"}):
                json = {"product_id": 1, "email": "x@example.com"}
                response = client.request(method, path, json=json, headers=headers)
                if response.status_code != 403 or "form key" not in refusal(response):
                    unprotected.append((method, path, headers, response.status_code))
        assert not unprotected
        assert dump(shop_data_dir) == before


def test_the_page_key_works_for_forms_and_scripts(shop_client: TestClient, shop_data_dir: Path):
    """What the shop's own pages send passes: the hidden field of a form, the header of a
    fetch() call; the 403 of a script call is JSON that says what is wrong."""
    (product,) = sqlite3.connect(shop_data_dir / "shop.db").execute(SIMPLE_PRODUCT).fetchone()
    key = sign_in_customer(shop_client)
    meta = html.fromstring(shop_client.get("/").text).xpath("//meta[@name='form-key']/@content")
    assert meta == [key]
    in_cart = shop_client.get("/api/cart").json()["cart_count"]
    refused = shop_client.post("/api/cart", json={"product_id": product})
    assert refused.status_code == 403 and "form key" in refused.json()["error"]
    item = {"product_id": product}
    added = shop_client.post("/api/cart", json=item, headers={"X-Form-Key": key})
    assert added.status_code == 200 and added.json()["cart_count"] == in_cart + 1
    review = {"nickname": "Ann", "rating": "5", "title": "Good", "body": "Does what it says."}
    response = shop_client.post(f"/products/{product}/reviews", data={**review, "form_key": key})
    assert response.status_code == 200 and "will appear after moderation" in response.text
    # Signing out ends the session and so its key: a page kept open must be reloaded.
    logout = shop_client.post("/account/logout", data={"form_key": key}, follow_redirects=False)
    assert logout.status_code == 303
    again = shop_client.post(f"/products/{product}/reviews", data={**review, "form_key": key})
    assert again.status_code == 403 and "out of date" in refusal(again)
    conn = sqlite3.connect(shop_data_dir / "shop.db")
    assert conn.execute("SELECT count(*) FROM reviews WHERE nickname = 'Ann'").fetchone()[0] == 1


PAGES = {
    "store": ["/", "/account", "/account/wishlist", "/cart", "/checkout", "/products/{product}"],
    "visitor": ["/account/login", "/account/register", "/products/{product}"],
    "admin": [
        "/admin/dashboard",
        "/admin/orders/1",
        "/admin/products/1",
        "/admin/reviews?status=approved",
    ],
}


def test_every_post_form_carries_the_key(shop_client: TestClient, shop_data_dir: Path):
    (product,) = sqlite3.connect(shop_data_dir / "shop.db").execute(SIMPLE_PRODUCT).fetchone()
    visitor_key = key_on(shop_client, "/")
    keys = {"visitor": visitor_key}
    keys["store"] = sign_in_customer(shop_client)
    shop_client.post(
        "/api/cart", json={"product_id": product}, headers={"X-Form-Key": keys["store"]}
    )
    keys["admin"] = sign_in_admin(shop_client)
    with TestClient(shop_client.app) as visitor:
        visitor.cookies = shop_client.cookies
        visitor.cookies.delete("shop_session")
        checked = 0
        for side, paths in PAGES.items():
            client = visitor if side == "visitor" else shop_client
            for path in paths:
                page = client.get(path.format(product=product))
                assert page.status_code == 200, path
                doc = html.fromstring(page.text)
                for form in doc.xpath("//form[@method='post']"):
                    assert form.xpath("input[@name='form_key']/@value") == [keys[side]], (
                        path,
                        form.get("action"),
                    )
                    checked += 1
    assert checked >= 16 and len(set(keys.values())) == 3


@pytest.mark.parametrize("login", site.spec.logins, ids=lambda login: login.role)
async def test_http_login_reads_the_key_from_the_login_page(shop_server: str, login: Login):
    """webserv signs in over HTTP by posting the login page's form with its hidden fields and
    cookie (what EnvSession does): that must keep working."""
    async with session_client() as client:
        credentials = await log_in(client, shop_server, login)
    session = "admin_session" if login.role == "admin" else "shop_session"
    assert session in {c["name"] for c in credentials.cookies}
