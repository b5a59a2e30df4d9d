"""The shop's storefront, in process (TestClient) and over real HTTP (``shop_server``)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from webserv.sites.shop import accounts
from webserv.sites.shop.app import create_app

CARD_RE = re.compile(r'class="product-card">\s*<a href="/products/(\d+)"')
FORM_KEY_RE = re.compile(r'<meta name="form-key" content="(\w+)">')


def db(data_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / "shop.db")
    conn.row_factory = sqlite3.Row
    return conn


def card_ids(html: str) -> list[int]:
    return [int(i) for i in CARD_RE.findall(html)]


def form_key(client: httpx.Client, path: str = "/") -> str:
    """The session's form key, as a page of the shop gives it to its forms and scripts."""
    return FORM_KEY_RE.search(client.get(path).text).group(1)


def keyed(client: httpx.Client) -> None:
    """Send the session's form key with every request from now on, as the shop's scripts do
    (the shop refuses state-changing requests without it)."""
    client.headers["X-Form-Key"] = form_key(client)


def login(client: httpx.Client, email: str = accounts.CUSTOMER.login) -> httpx.Response:
    """Sign in with the login page's form, as a browser does; then send the new session's key."""
    client.headers.pop("X-Form-Key", None)  # the key of the session being left
    form = {
        "form_key": form_key(client, "/account/login"),
        "email": email,
        "password": accounts.CUSTOMER.password,
        "next": "/account",
    }
    r = client.post("/account/login", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    keyed(client)
    return r


def simple_product(data_dir: Path, min_stock: int = 5) -> sqlite3.Row:
    """An enabled, in-stock product without options."""
    return (
        db(data_dir)
        .execute(
            "SELECT * FROM products WHERE status = 'enabled' AND stock >= ? AND options_json = '{}'"
            " ORDER BY id LIMIT 1",
            (min_stock,),
        )
        .fetchone()
    )


def optioned_product(data_dir: Path) -> sqlite3.Row:
    return (
        db(data_dir)
        .execute(
            "SELECT * FROM products WHERE status = 'enabled' AND stock >= 5"
            " AND options_json LIKE '%Size%' ORDER BY id LIMIT 1"
        )
        .fetchone()
    )


def test_health_in_process(shop_client: TestClient) -> None:
    assert shop_client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        ("/", "Featured products"),
        ("/category/electronics", "Headphones &amp; Audio"),
        ("/category/headphones-audio", "Shopping options"),
        ("/search?q=the", "Search results for"),
        ("/cart", "Shopping Cart"),
        ("/account/login", "Customer Login"),
        ("/account/register", "Create New Customer Account"),
        ("/help/size-guide", "Apparel sizes"),
        ("/help/shipping-returns", "Store pickup"),
        ("/brands/1", "store"),
    ],
)
def test_pages_render(shop_client: TestClient, url: str, expect: str) -> None:
    r = shop_client.get(url)
    assert r.status_code == 200
    assert expect in r.text
    assert 'id="cart-count"' in r.text and 'aria-label="Categories"' in r.text


def test_product_page_has_images_options_stock_and_new_tab_links(
    shop_client: TestClient, shop_data_dir: Path
) -> None:
    product = optioned_product(shop_data_dir)
    html = shop_client.get(f"/products/{product['id']}").text
    assert product["name"].replace("'", "&#39;") in html
    assert f"/media/products/{product['id']:04d}/1.png" in html
    assert '<select id="option-size"' in html and "In stock" in html
    assert 'target="_blank"' in html and "/help/size-guide" in html
    assert 'data-reviews-url="/api/products/' in html or "No reviews yet" in html
    image = shop_client.get(f"/media/products/{product['id']:04d}/1.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_consent_dialog_until_cookie_set(shop_client: TestClient) -> None:
    assert 'id="consent-dialog"' in shop_client.get("/").text
    shop_client.cookies.set("shop_consent", "1")
    assert 'id="consent-dialog"' not in shop_client.get("/").text


def test_search_matches_and_paginates(shop_client: TestClient, shop_data_dir: Path) -> None:
    conn = db(shop_data_dir)
    term = (
        conn.execute(
            "SELECT b.name FROM products p JOIN brands b ON b.id = p.brand_id"
            " WHERE p.status = 'enabled' ORDER BY p.id LIMIT 1"
        )
        .fetchone()[0]
        .split()[0]
    )
    expected = conn.execute(
        """SELECT count(*) FROM products p JOIN brands b ON b.id = p.brand_id
           JOIN categories c ON c.id = p.category_id WHERE p.status = 'enabled'
           AND (p.name LIKE ?1 OR b.name LIKE ?1 OR c.name LIKE ?1)""",
        (f"%{term}%",),
    ).fetchone()[0]
    r = shop_client.get("/search", params={"q": term})
    assert r.status_code == 200
    assert expected > 0 and f"of {expected}</p>" in r.text
    everything = shop_client.get("/search", params={"q": "e"}).text
    total = int(re.search(r"Items 1-12 of (\d+)", everything).group(1))
    assert total > 12 and 'rel="next"' in everything
    second = shop_client.get("/search", params={"q": "e", "page": 2}).text
    assert "Items 13-" in second and set(card_ids(second)).isdisjoint(card_ids(everything))
    last = -(-total // 12)
    assert shop_client.get("/search", params={"q": "e", "page": last + 1}).status_code == 404


def test_category_filters_and_sort(shop_client: TestClient, shop_data_dir: Path) -> None:
    conn = db(shop_data_dir)
    r = shop_client.get("/category/electronics", params={"sort": "price_asc"})
    ids = card_ids(r.text)
    prices = [
        conn.execute(
            "SELECT coalesce(special_cents, price_cents) FROM products WHERE id = ?", (i,)
        ).fetchone()[0]
        for i in ids
    ]
    assert ids and prices == sorted(prices)
    r = shop_client.get("/category/electronics", params={"price_min": 20, "price_max": 100})
    for i in card_ids(r.text):
        cents = conn.execute(
            "SELECT coalesce(special_cents, price_cents) FROM products WHERE id = ?", (i,)
        ).fetchone()[0]
        assert 2000 <= cents <= 10099
    brand_id = conn.execute(
        "SELECT brand_id FROM products p JOIN categories c ON c.id = p.category_id"
        " WHERE c.parent_id = (SELECT id FROM categories WHERE slug = 'electronics') LIMIT 1"
    ).fetchone()[0]
    r = shop_client.get("/category/electronics", params={"brand": brand_id, "price_min": ""})
    ids = card_ids(r.text)
    assert ids
    brands = {
        conn.execute("SELECT brand_id FROM products WHERE id = ?", (i,)).fetchone()[0] for i in ids
    }
    assert brands == {brand_id}
    r = shop_client.get("/category/electronics", params={"rating": 4})
    for i in card_ids(r.text):
        assert conn.execute("SELECT rating_avg FROM products WHERE id = ?", (i,)).fetchone()[0] >= 4


def test_suggestions_api(shop_client: TestClient, shop_data_dir: Path) -> None:
    name = simple_product(shop_data_dir)["name"]
    word = name.split()[-1]
    data = shop_client.get("/api/suggest", params={"q": word}).json()
    assert data["query"] == word and data["products"]
    assert all(p["url"] == f"/products/{p['id']}" for p in data["products"])
    assert shop_client.get("/api/suggest", params={"q": "zzqqxx"}).json()["products"] == []
    coffee = shop_client.get("/api/suggest", params={"q": "coffee"}).json()
    assert {"name": "Coffee & Tea", "url": "/category/coffee-tea"} in coffee["categories"]
    literal = shop_client.get("/api/suggest", params={"q": "%_"}).json()
    assert literal["products"] == [] and literal["categories"] == []


def test_reviews_api_pages_approved_reviews(shop_client: TestClient, shop_data_dir: Path) -> None:
    conn = db(shop_data_dir)
    product = conn.execute(
        "SELECT * FROM products WHERE status = 'enabled' ORDER BY rating_count DESC LIMIT 1"
    ).fetchone()
    data = shop_client.get(f"/api/products/{product['id']}/reviews").json()
    assert data["total"] == product["rating_count"] > 0
    assert 0 < len(data["reviews"]) <= 5
    dates = [r["created_at"] for r in data["reviews"]]
    assert dates == sorted(dates, reverse=True)
    approved = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM reviews WHERE product_id = ? AND status = 'approved'", (product["id"],)
        )
    }
    assert {r["id"] for r in data["reviews"]} <= approved
    past = shop_client.get(f"/api/products/{product['id']}/reviews", params={"page": 99})
    assert past.status_code == 404 and "error" in past.json()


def test_cart_to_checkout_creates_order_and_takes_stock(
    shop_client: TestClient, shop_data_dir: Path
) -> None:
    plain, sized = simple_product(shop_data_dir), optioned_product(shop_data_dir)
    login(shop_client)
    r = shop_client.post("/api/cart", json={"product_id": plain["id"], "qty": 2})
    assert r.status_code == 200 and r.json()["cart_count"] == 2
    missing = shop_client.post("/api/cart", json={"product_id": sized["id"], "qty": 1})
    assert missing.status_code == 400 and "Choose a size" in missing.json()["error"]
    options = {name: values[0] for name, values in json.loads(sized["options_json"]).items()}
    r = shop_client.post("/api/cart", json={"product_id": sized["id"], "options": options})
    assert r.json()["cart_count"] == 3
    assert 'id="cart-count">3<' in shop_client.get("/").text
    cart = shop_client.get("/cart").text
    assert plain["name"].replace("'", "&#39;") in cart and "Size: " in cart
    item_ids = re.findall(r'name="qty_(\d+)"', cart)
    r = shop_client.post("/cart/update", data={f"qty_{item_ids[0]}": "3"}, follow_redirects=False)
    assert r.status_code == 303
    r = shop_client.post("/cart/remove", data={"item_id": item_ids[1]}, follow_redirects=False)
    assert r.status_code == 303
    assert shop_client.get("/api/cart").json() == {"cart_count": 3}

    page = shop_client.get("/checkout")
    assert page.status_code == 200 and 'value="Austin"' in page.text
    form = {
        "first_name": "Emma",
        "last_name": "Lopez",
        "street": "1 Test Way",
        "city": "Austin",
        "region": "TX",
        "postcode": "7870",
        "country": "US",
        "phone": "(512) 555-0100",
        "shipping_method": "express",
    }
    bad = shop_client.post("/checkout", data=form)
    assert bad.status_code == 400 and "5-digit ZIP code" in bad.text
    form["postcode"] = "78701"
    done = shop_client.post("/checkout", data=form, follow_redirects=False)
    assert done.status_code == 303
    number = done.headers["location"].rsplit("/", 1)[1]
    assert number in shop_client.get(done.headers["location"]).text

    conn = db(shop_data_dir)
    order = conn.execute("SELECT * FROM orders WHERE number = ?", (number,)).fetchone()
    assert order["status"] == "pending" and order["shipping_method"] == "express"
    assert (
        order["total_cents"]
        == 3 * plain["special_cents" if plain["special_cents"] else "price_cents"] + 1499
    )
    items = conn.execute("SELECT * FROM order_items WHERE order_id = ?", (order["id"],)).fetchall()
    assert [(i["product_id"], i["qty"]) for i in items] == [(plain["id"], 3)]
    stock = conn.execute("SELECT stock FROM products WHERE id = ?", (plain["id"],)).fetchone()[0]
    assert stock == plain["stock"] - 3
    assert shop_client.get("/api/cart").json() == {"cart_count": 0}
    assert number in shop_client.get("/account/orders").text
    detail = shop_client.get(f"/account/orders/{number}")
    assert detail.status_code == 200 and "Order placed." in detail.text


def test_cart_refuses_more_than_stock(shop_client: TestClient, shop_data_dir: Path) -> None:
    product = (
        db(shop_data_dir)
        .execute(
            "SELECT * FROM products WHERE status = 'enabled' AND options_json = '{}'"
            " AND stock BETWEEN 2 AND 98 ORDER BY id LIMIT 1"
        )
        .fetchone()
    )
    keyed(shop_client)
    assert shop_client.post("/api/cart", json={"product_id": product["id"]}).status_code == 200
    r = shop_client.post("/api/cart", json={"product_id": product["id"], "qty": product["stock"]})
    assert r.status_code == 409 and "left in stock" in r.json()["error"]
    assert shop_client.get("/api/cart").json() == {"cart_count": 1}


def test_login_logout_and_wishlist(shop_client: TestClient, shop_data_dir: Path) -> None:
    keyed(shop_client)
    wrong = shop_client.post(
        "/account/login", data={"email": accounts.CUSTOMER.login, "password": "nope"}
    )
    assert wrong.status_code == 401 and "sign-in was incorrect" in wrong.text
    assert shop_client.get("/account", follow_redirects=False).status_code == 303
    login(shop_client)
    assert "Emma Lopez" in shop_client.get("/account").text
    wishlist = shop_client.get("/account/wishlist").text
    assert wishlist.count('class="wish-item"') == 3
    product = simple_product(shop_data_dir)
    shop_client.post("/account/wishlist/add", data={"product_id": product["id"]})
    conn = db(shop_data_dir)
    emma = conn.execute("SELECT id FROM customers WHERE email = ?", (accounts.CUSTOMER.login,))
    emma_id = emma.fetchone()[0]
    count = "SELECT count(*) FROM wishlist WHERE customer_id = ?"
    assert conn.execute(count, (emma_id,)).fetchone()[0] == 4
    r = shop_client.post("/account/wishlist/remove", data={"product_id": product["id"]})
    assert r.status_code == 200 and "removed from your wish list" in r.text
    assert conn.execute(count, (emma_id,)).fetchone()[0] == 3
    shop_client.post("/account/logout")
    assert shop_client.get("/account", follow_redirects=False).status_code == 303


def test_register_then_signed_in(shop_client: TestClient, shop_data_dir: Path) -> None:
    form = {
        "first_name": "Ada",
        "last_name": "Byron",
        "email": "ada@example.com",
        "password": "long-enough-1",
        "password_confirm": "long-enough-1",
    }
    keyed(shop_client)
    assert shop_client.post("/account/register", data=form | {"email": "bad"}).status_code == 400
    r = shop_client.post("/account/register", data=form)
    assert r.status_code == 200 and "Thank you for registering" in r.text
    keyed(shop_client)  # signed in now: a new session, a new key
    again = shop_client.post("/account/register", data=form)
    assert again.status_code == 400 and "already exists" in again.text


def test_review_submission_lands_pending(shop_client: TestClient, shop_data_dir: Path) -> None:
    product = simple_product(shop_data_dir)
    url = f"/products/{product['id']}/reviews"
    keyed(shop_client)
    bad = shop_client.post(url, data={"nickname": "", "rating": "9", "title": "x", "body": "short"})
    assert bad.status_code == 400
    assert "Choose a rating" in bad.text and "at least 10 characters" in bad.text
    review = {"nickname": "Tess", "rating": "4", "title": "Nice", "body": "Works well for me."}
    r = shop_client.post(url, data=review)
    assert r.status_code == 200 and "will appear after moderation" in r.text
    row = (
        db(shop_data_dir)
        .execute(
            "SELECT * FROM reviews WHERE product_id = ? AND nickname = 'Tess'", (product["id"],)
        )
        .fetchone()
    )
    assert row["status"] == "pending" and row["rating"] == 4


def test_newsletter_api(shop_client: TestClient, shop_data_dir: Path) -> None:
    keyed(shop_client)
    ok = shop_client.post("/api/newsletter", json={"email": "new.reader@example.com"})
    assert ok.status_code == 200 and "subscribed" in ok.json()["message"]
    assert shop_client.post("/api/newsletter", json={"email": "not-an-email"}).status_code == 400
    assert (
        db(shop_data_dir)
        .execute("SELECT count(*) FROM newsletter WHERE email = 'new.reader@example.com'")
        .fetchone()[0]
        == 1
    )


HUGE = 10**30
LONG = "x" * 5000


@pytest.mark.parametrize(
    ("method", "url", "payload", "status", "message"),
    [
        ("get", "/products/999999", None, 404, "Product 999999 does not exist"),
        ("get", "/products/abc", None, 422, "valid integer"),
        ("get", f"/products/{HUGE}", None, 422, "Invalid input"),
        ("get", "/products/-3", None, 422, "greater than or equal to 1"),
        ("get", "/category/no-such-category", None, 404, "does not exist"),
        ("get", "/brands/424242", None, 404, "Brand 424242 does not exist"),
        ("get", "/help/nothing", None, 404, "does not exist"),
        ("get", "/category/electronics?page=0", None, 422, "page"),
        ("get", "/category/electronics?page=99999999", None, 422, "page"),
        ("get", "/category/electronics?page=500", None, 404, "Page 500 does not exist"),
        ("get", "/category/electronics?sort=cheapest", None, 422, "sort"),
        ("get", "/category/electronics?price_min=abc", None, 422, "price_min"),
        ("get", "/category/electronics?price_min=50&price_max=10", None, 400, "above the maximum"),
        ("get", "/category/electronics?rating=9", None, 422, "rating"),
        ("get", f"/category/electronics?brand={HUGE}", None, 422, "brand"),
        ("get", "/search?q=", None, 400, "Enter a word"),
        ("get", f"/search?q={LONG}", None, 422, "at most 200"),
        ("get", "/api/suggest", None, 422, "q"),
        ("get", f"/api/suggest?q={LONG}", None, 422, "at most 200"),
        ("get", "/api/products/999999/reviews", None, 404, "does not exist"),
        ("get", "/api/products/1/reviews?page=-1", None, 422, "page"),
        ("post", "/api/cart", {"product_id": 999999}, 404, "does not exist"),
        ("post", "/api/cart", {"product_id": "x"}, 422, "product_id"),
        ("post", "/api/cart", {"product_id": 1, "qty": -2}, 422, "qty"),
        ("post", "/api/cart", {"product_id": 1, "qty": HUGE}, 422, "qty"),
        ("post", "/api/cart", {"qty": 1}, 422, "product_id"),
        ("post", "/api/cart", [1, 2], 422, "Invalid input"),
        ("post", "/api/newsletter", {"email": LONG}, 422, "email"),
        ("post", "/cart/add", {"product_id": "1", "qty": "-1"}, 400, "negative"),
        ("post", "/cart/add", {"product_id": "1", "qty": "lots"}, 400, "whole number"),
        ("post", "/cart/add", {"product_id": "1", "qty": str(HUGE)}, 400, "whole number"),
        ("post", "/cart/add", {"product_id": "", "qty": "1"}, 400, "Product id"),
        ("post", "/cart/update", {"qty_1": "2"}, 400, "cart is empty"),
        ("post", "/cart/remove", {"item_id": "77"}, 404, "not in your cart"),
        ("post", "/cart/remove", {"item_id": "abc"}, 422, "item_id"),
        ("post", "/account/wishlist/add", {"product_id": "zz"}, 422, "product_id"),
        ("post", "/account/login", {"email": LONG, "password": "x"}, 400, "too long"),
        ("post", "/products/999999/reviews", {"rating": "5"}, 404, "does not exist"),
        ("get", "/account/orders?page=abc", None, 422, "page"),
        ("get", "/checkout/success/123", None, 404, "does not exist"),
    ],
)
def test_bad_input_gets_clear_4xx(
    shop_client: TestClient, method: str, url: str, payload: object, status: int, message: str
) -> None:
    keyed(shop_client)
    if method == "get":
        r = shop_client.get(url)
    elif url.startswith("/api/"):
        r = shop_client.post(url, json=payload)
    else:
        r = shop_client.post(url, data=payload)  # type: ignore[arg-type]
    assert r.status_code == status, r.text[:300]
    assert message in r.text


def test_signed_in_bad_input(shop_client: TestClient, shop_data_dir: Path) -> None:
    login(shop_client)
    other = (
        db(shop_data_dir)
        .execute("SELECT number FROM orders WHERE customer_id != 1 LIMIT 1")
        .fetchone()[0]
    )
    assert shop_client.get(f"/account/orders/{other}").status_code == 404
    assert shop_client.get("/account/orders/' OR 1=1 --").status_code == 404
    r = shop_client.post("/checkout", data={"first_name": LONG})
    assert r.status_code == 400 and "cart is empty" in r.text
    product = simple_product(shop_data_dir)
    shop_client.post("/api/cart", json={"product_id": product["id"]})
    r = shop_client.post("/checkout", data={"country": "XX", "shipping_method": "teleport"})
    assert r.status_code == 400
    assert "Choose a country" in r.text and "Choose a shipping method" in r.text
    item = re.search(r'name="qty_(\d+)"', shop_client.get("/cart").text).group(1)
    r = shop_client.post("/cart/update", data={f"qty_{item}": "1000"})
    assert r.status_code == 400 and "cannot be more than 99" in r.text


def test_api_latency_applies_to_api_only(shop_data_dir: Path) -> None:
    delay_s = 1.5  # large, so a busy machine cannot make the page look delayed too
    with TestClient(create_app(shop_data_dir, latency_ms=int(delay_s * 1000))) as client:
        started = time.perf_counter()
        client.get("/api/suggest", params={"q": "a"})
        api_s = time.perf_counter() - started
        started = time.perf_counter()
        client.get("/healthz")
        page_s = time.perf_counter() - started
    assert api_s >= delay_s > page_s


def test_shopping_over_real_http(shop_server: str, shop_data_dir: Path) -> None:
    product = simple_product(shop_data_dir)
    with httpx.Client(base_url=shop_server) as client:
        assert client.get("/healthz").status_code == 200
        assert "Featured products" in client.get("/").text
        keyed(client)
        r = client.post("/api/cart", json={"product_id": product["id"], "qty": 2})
        assert r.status_code == 200 and "shop_cart" in client.cookies
        assert 'id="cart-count">2<' in client.get("/cart").text
        assert client.get("/products/999999").status_code == 404


def test_login_over_real_http(shop_server: str) -> None:
    with httpx.Client(base_url=shop_server) as client:
        r = login(client)
        assert r.headers["location"] == "/account"
        assert "Emma Lopez" in client.get("/account").text
        assert "shop_session" in client.cookies


def test_checkout_fails_cleanly_when_stock_ran_out(
    shop_client: TestClient, shop_data_dir: Path
) -> None:
    product = simple_product(shop_data_dir)
    login(shop_client)
    shop_client.post("/api/cart", json={"product_id": product["id"], "qty": 3})
    with db(shop_data_dir) as conn:
        conn.execute("UPDATE products SET stock = 1 WHERE id = ?", (product["id"],))
        orders_before = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    form = {
        "first_name": "Emma",
        "last_name": "Lopez",
        "street": "1 Test Way",
        "city": "Austin",
        "region": "TX",
        "postcode": "78701",
        "country": "US",
        "phone": "(512) 555-0100",
        "shipping_method": "standard",
    }
    r = shop_client.post("/checkout", data=form)
    assert r.status_code == 409 and "left in stock" in r.text
    conn = db(shop_data_dir)
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == orders_before
    assert (
        conn.execute("SELECT stock FROM products WHERE id = ?", (product["id"],)).fetchone()[0] == 1
    )
    assert shop_client.get("/api/cart").json() == {"cart_count": 3}
