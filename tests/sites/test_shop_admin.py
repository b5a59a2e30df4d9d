"""The shop's admin CMS: sign-in, grids, order and product edits, moderation, reports, bad input."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import element_id
from fastapi.testclient import TestClient
from lxml import html

from webserv.browser.session import BrowserPool, SessionConfig
from webserv.sites.shop import accounts, db
from webserv.sites.shop.app import create_app

PAGES = [
    "/admin/dashboard",
    "/admin/orders",
    "/admin/products",
    "/admin/customers",
    "/admin/reviews",
    "/admin/reports/sales",
    "/admin/reports/bestsellers",
]


@pytest.fixture
def conn(shop_data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The database of the data dir :func:`admin` edits."""
    connection = db.connect(shop_data_dir)
    yield connection
    connection.close()


def form_key(client: TestClient, path: str, form: str) -> str:
    """The form key of the form posting to ``form`` on the page at ``path``."""
    doc = page_of(client.get(path))
    return doc.xpath(f"//form[@action='{form}']/input[@name='form_key']/@value")[0]


def sign_in(client: TestClient, password: str = accounts.ADMIN.password, next: str = ""):
    """Sign in with the login page's form, as a browser does. Once signed in, the client sends
    the session's form key with every request (the shop refuses a form post without it)."""
    client.headers.pop("X-Form-Key", None)  # the key of the session being left
    form = {
        "form_key": form_key(client, "/admin/login", "/admin/login"),
        "username": accounts.ADMIN.login,
        "password": password,
    }
    if next:
        form["next"] = next
    response = client.post("/admin/login", data=form, follow_redirects=False)
    if response.status_code == 303:
        client.headers["X-Form-Key"] = form_key(client, "/admin/dashboard", "/admin/logout")
    return response


@pytest.fixture
def admin(shop_client: TestClient) -> TestClient:
    """A client signed in as the documented admin, over a fresh data dir (for edits)."""
    assert sign_in(shop_client).status_code == 303
    return shop_client


def data_copy(shop_golden: Path, factory: pytest.TempPathFactory, name: str) -> Path:
    return Path(shutil.copytree(shop_golden, factory.mktemp(name) / "data"))


def signed_in_client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(data_dir)) as client:
        assert sign_in(client).status_code == 303
        yield client


@pytest.fixture(scope="module")
def view_dir(shop_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the data for the tests that only read (signing in writes a session)."""
    return data_copy(shop_golden, tmp_path_factory, "admin-view")


@pytest.fixture(scope="module")
def anonymous(view_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(view_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def viewer(view_dir: Path) -> Iterator[TestClient]:
    """A signed-in admin client that must not change anything."""
    yield from signed_in_client(view_dir)


@pytest.fixture(scope="module")
def view_db(view_dir: Path) -> Iterator[sqlite3.Connection]:
    connection = db.connect(view_dir)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def refused_dir(shop_golden: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the data for requests that must be refused: each such test checks that
    nothing changed, so they can share it."""
    return data_copy(shop_golden, tmp_path_factory, "admin-refused")


@pytest.fixture(scope="module")
def refused(refused_dir: Path) -> Iterator[TestClient]:
    yield from signed_in_client(refused_dir)


@pytest.fixture(scope="module")
def refused_db(refused_dir: Path) -> Iterator[sqlite3.Connection]:
    connection = db.connect(refused_dir)
    yield connection
    connection.close()


def page_of(response) -> html.HtmlElement:
    return html.fromstring(response.text)


def message(response) -> str:
    """The error or confirmation text a page shows."""
    doc = page_of(response)
    found = doc.xpath(
        "//*[contains(@class, 'error-message') or @role='alert' or @role='status'"
        " and contains(@class, 'message')]"
    )
    return " ".join(" ".join(el.text_content().split()) for el in found)


def table(response, caption: str | None = None) -> list[list[str]]:
    """Body rows (cell texts) of the page's table with ``caption`` (or its first table)."""
    doc = page_of(response)
    tables = doc.xpath(f"//table[caption[contains(., '{caption}')]]" if caption else "//table")
    rows = tables[0].xpath("./tbody/tr[not(td[@colspan])]")
    return [
        [" ".join(cell.text_content().split()) for cell in row.xpath("./td|./th")] for row in rows
    ]


def column(response, name: str, caption: str | None = None) -> list[str]:
    doc = page_of(response)
    tables = doc.xpath(f"//table[caption[contains(., '{caption}')]]" if caption else "//table")
    headers = [" ".join(th.text_content().split()) for th in tables[0].xpath("./thead/tr/th")]
    index = next(i for i, text in enumerate(headers) if text.rstrip(" ▲▼") == name)
    return [row[index] for row in table(response, caption)]


def cents(text: str) -> int:
    """``$1,234.50`` -> 123450."""
    match = re.fullmatch(r"(-?)\$([\d,]+)\.(\d\d)", text.strip())
    assert match, f"not an amount: {text!r}"
    sign = -1 if match.group(1) else 1
    return sign * (int(match.group(2).replace(",", "")) * 100 + int(match.group(3)))


def showing_total(response) -> int:
    """The total of 'Showing 1–20 of N ...' (0 for 'No ... found')."""
    text = page_of(response).xpath("string(//p[contains(@class, 'grid-count')])")
    found = re.search(r"of (\d+)", text)
    return int(found.group(1)) if found else 0


# --- signing in -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/admin/orders/1", "/admin/products/1?x=1"])
def test_pages_redirect_to_login_without_a_session(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")
    login = anonymous.get(response.headers["location"])
    assert login.status_code == 200
    assert page_of(login).xpath("//input[@name='next']/@value") == [path]


def test_post_without_a_session_changes_nothing(
    anonymous: TestClient, view_db: sqlite3.Connection
) -> None:
    before = view_db.execute("SELECT name FROM products WHERE id = 1").fetchone()[0]
    form = {"name": "Hijacked", "category_id": "1", "price": "1", "stock": "1", "status": "enabled"}
    referer = {"referer": "http://testserver/admin/products/1"}
    response = anonymous.post(
        "/admin/products/1", data=form, headers=referer, follow_redirects=False
    )
    assert response.status_code == 303
    # After signing in, back to the form's page (a post cannot be replayed).
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2Fproducts%2F1"
    assert view_db.execute("SELECT name FROM products WHERE id = 1").fetchone()[0] == before


@pytest.mark.parametrize(
    ("password", "status", "text"),
    [("wrong-password", 401, "incorrect"), ("", 400, "Enter both"), ("x" * 5000, 400, "too long")],
)
def test_bad_sign_in_is_refused(
    anonymous: TestClient, password: str, status: int, text: str
) -> None:
    response = sign_in(anonymous, password=password)
    assert response.status_code == status
    assert text in message(response)
    assert "admin_session" not in response.cookies
    assert anonymous.get("/admin/orders", follow_redirects=False).status_code == 303


def test_sign_in_goes_to_next_and_sign_out_ends_the_session(
    shop_client: TestClient, conn: sqlite3.Connection
) -> None:
    response = sign_in(shop_client, next="/admin/orders?status=pending")
    assert response.headers["location"] == "/admin/orders?status=pending"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert shop_client.get("/admin/orders").status_code == 200
    assert conn.execute("SELECT COUNT(*) FROM sessions WHERE admin_id IS NOT NULL").fetchone()[0]

    out = shop_client.post("/admin/logout")
    assert "signed out" in message(out)
    assert shop_client.get("/admin/orders", follow_redirects=False).status_code == 303
    assert not conn.execute("SELECT COUNT(*) FROM sessions WHERE admin_id IS NOT NULL").fetchone()[
        0
    ]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin", "/account"])
def test_sign_in_never_redirects_off_the_admin(shop_client: TestClient, target: str) -> None:
    assert sign_in(shop_client, next=target).headers["location"] == "/admin/dashboard"


# --- every page -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [*PAGES, "/admin/orders/1", "/admin/products/1", "/admin/customers/1"]
)
def test_page_renders_with_menu_and_heading(viewer: TestClient, path: str) -> None:
    response = viewer.get(path)
    assert response.status_code == 200
    doc = page_of(response)
    assert doc.xpath("//nav[@aria-label='Admin menu']//a[@href='/admin/orders']")
    assert doc.xpath("string(//h1)").strip()
    for field in doc.xpath("//form//input[not(@type='hidden')]|//form//select|//form//textarea"):
        labelled = field.get("aria-label") or field.xpath("ancestor::label")
        labelled = labelled or doc.xpath(f"//label[@for='{field.get('id')}']")
        assert labelled, f"unlabelled form field {html.tostring(field)[:80]!r} on {path}"


def test_detail_pages_render(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    order = view_db.execute("SELECT id, number FROM orders ORDER BY id LIMIT 1").fetchone()
    assert order["number"] in viewer.get(f"/admin/orders/{order['id']}").text
    product = view_db.execute("SELECT id, name FROM products ORDER BY id LIMIT 1").fetchone()
    edit = page_of(viewer.get(f"/admin/products/{product['id']}"))
    assert edit.xpath("//input[@id='name']/@value") == [product["name"]]
    customer = view_db.execute(
        "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    view = viewer.get(f"/admin/customers/{customer[0]}")
    assert len(table(view, None)) == customer[1]


# --- orders ---------------------------------------------------------------------------------


def test_orders_filter_by_status(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    status, count = view_db.execute(
        "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY COUNT(*) LIMIT 1"
    ).fetchone()
    response = viewer.get(f"/admin/orders?status={status}&limit=200")
    assert showing_total(response) == count
    assert set(column(response, "Status")) == {status.capitalize()}


def test_orders_filter_by_dates_customer_and_number(
    viewer: TestClient, view_db: sqlite3.Connection
) -> None:
    day = view_db.execute("SELECT substr(created_at, 1, 10) FROM orders LIMIT 1").fetchone()[0]
    expected = view_db.execute(
        "SELECT COUNT(*) FROM orders WHERE substr(created_at, 1, 10) = ?", (day,)
    ).fetchone()[0]
    assert showing_total(viewer.get(f"/admin/orders?date_from={day}&date_to={day}")) == expected

    email, count = view_db.execute(
        "SELECT c.email, COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id"
        " GROUP BY c.id LIMIT 1"
    ).fetchone()
    response = viewer.get(f"/admin/orders?customer={email.upper()}&limit=200")
    assert showing_total(response) == count
    assert set(column(response, "Email")) == {email}

    number = view_db.execute("SELECT number FROM orders ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert column(viewer.get(f"/admin/orders?number={number}"), "Order #") == [number]


def test_orders_and_products_filter_by_amount(
    viewer: TestClient, view_db: sqlite3.Connection
) -> None:
    low, high = 100_00, 250_50
    count = view_db.execute(
        "SELECT COUNT(*) FROM orders WHERE total_cents BETWEEN ? AND ?", (low, high)
    ).fetchone()[0]
    response = viewer.get("/admin/orders?total_from=100&total_to=250.50&limit=200")
    assert showing_total(response) == count >= 1
    assert all(low <= cents(t) <= high for t in column(response, "Grand total"))

    count = view_db.execute(
        "SELECT COUNT(*) FROM products WHERE price_cents BETWEEN 1000 AND 3000"
    ).fetchone()[0]
    response = viewer.get("/admin/products?price_from=10&price_to=30&limit=200")
    assert showing_total(response) == count >= 1
    assert all(1000 <= cents(p) <= 3000 for p in column(response, "Price"))


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_orders_sort_by_total(viewer: TestClient, direction: str) -> None:
    totals = [
        cents(t)
        for t in column(viewer.get(f"/admin/orders?sort=total&dir={direction}"), "Grand total")
    ]
    assert totals == sorted(totals, reverse=direction == "desc")
    assert len(totals) == 20


def test_orders_pagination(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    total = view_db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    first = column(viewer.get("/admin/orders?limit=20"), "Order #")
    second = column(viewer.get("/admin/orders?limit=20&page=2"), "Order #")
    assert len(first) == 20 and second and not set(first) & set(second)
    everything = column(viewer.get("/admin/orders?limit=200"), "Order #")
    assert everything[:20] == first and everything[20:40] == second
    assert len(everything) == min(total, 200)


def test_order_status_change_persists_and_shows_in_history(
    admin: TestClient, conn: sqlite3.Connection
) -> None:
    order_id = conn.execute("SELECT id FROM orders WHERE status = 'complete' LIMIT 1").fetchone()[0]
    response = admin.post(
        f"/admin/orders/{order_id}/status", data={"status": "refunded", "comment": "Returned."}
    )
    assert response.status_code == 200
    assert "updated" in message(response)
    assert conn.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()[0] == (
        "refunded"
    )
    history = table(response, "Order history")
    assert history[0][1:] == ["Refunded", "Returned.", accounts.ADMIN.login]


def test_comment_without_status_change_is_added(
    admin: TestClient, conn: sqlite3.Connection
) -> None:
    order_id, status = conn.execute("SELECT id, status FROM orders LIMIT 1").fetchone()
    admin.post(f"/admin/orders/{order_id}/status", data={"status": status, "comment": "Called."})
    last = conn.execute(
        "SELECT status, comment FROM order_history WHERE order_id = ? ORDER BY id DESC LIMIT 1",
        (order_id,),
    ).fetchone()
    assert tuple(last) == (status, "Called.")


@pytest.mark.parametrize(
    ("current", "wanted", "code", "text"),
    [
        ("complete", "pending", 409, "cannot become pending"),
        ("canceled", "processing", 409, "final status"),
        ("complete", "lost", 400, "not an order status"),
        ("complete", "complete", 400, "Choose a new status"),
    ],
)
def test_invalid_status_change_is_refused(
    refused: TestClient,
    refused_db: sqlite3.Connection,
    current: str,
    wanted: str,
    code: int,
    text: str,
) -> None:
    refused_db.execute("UPDATE orders SET status = ? WHERE id = 1", (current,))
    refused_db.commit()
    history_sql = "SELECT COUNT(*) FROM order_history WHERE order_id = 1"
    history = refused_db.execute(history_sql).fetchone()[0]
    response = refused.post("/admin/orders/1/status", data={"status": wanted, "comment": ""})
    assert response.status_code == code
    assert text in message(response)
    assert refused_db.execute("SELECT status FROM orders WHERE id = 1").fetchone()[0] == current
    assert refused_db.execute(history_sql).fetchone()[0] == history


def test_cancel_returns_items_to_stock(admin: TestClient, conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE orders SET status = 'pending' WHERE id = 1")
    conn.commit()
    items = conn.execute(
        "SELECT product_id, SUM(qty) FROM order_items WHERE order_id = 1 GROUP BY product_id"
    ).fetchall()
    stock = {
        pid: conn.execute("SELECT stock FROM products WHERE id = ?", (pid,)).fetchone()[0]
        for pid, _ in items
    }
    response = admin.post("/admin/orders/1/status", data={"status": "canceled", "comment": ""})
    assert "returned to stock" in message(response)
    for pid, qty in items:
        after = conn.execute("SELECT stock FROM products WHERE id = ?", (pid,)).fetchone()[0]
        assert after == stock[pid] + qty


# --- products -------------------------------------------------------------------------------


def test_products_search_filter_and_sort(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    sku = view_db.execute("SELECT sku FROM products ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert column(viewer.get(f"/admin/products?q={sku.lower()}"), "SKU") == [sku]

    category, count = view_db.execute(
        "SELECT category_id, COUNT(*) FROM products GROUP BY category_id LIMIT 1"
    ).fetchone()
    assert showing_total(viewer.get(f"/admin/products?category={category}")) == count

    prices = [cents(p) for p in column(viewer.get("/admin/products?sort=price&dir=desc"), "Price")]
    assert prices == sorted(prices, reverse=True)


def test_products_stock_filter(admin: TestClient, conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE products SET stock = 0 WHERE id IN (1, 2)")
    conn.execute("UPDATE products SET stock = 3 WHERE id = 3")
    conn.commit()
    for stock, low, high in [("out", 0, 0), ("low", 1, 5)]:
        count = conn.execute(
            "SELECT COUNT(*) FROM products WHERE stock BETWEEN ? AND ?", (low, high)
        ).fetchone()[0]
        response = admin.get(f"/admin/products?stock={stock}&limit=200")
        assert showing_total(response) == count >= 1
        assert all(low <= int(q) <= high for q in column(response, "Quantity"))


def valid_product_form(conn: sqlite3.Connection, product_id: int) -> dict[str, str]:
    row = conn.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
    return {
        "name": row["name"],
        "category_id": str(row["category_id"]),
        "price": f"{row['price_cents'] / 100:.2f}",
        "special_price": "",
        "stock": str(row["stock"]),
        "status": "enabled",
        "description": row["description"],
    }


def test_product_edit_persists(admin: TestClient, conn: sqlite3.Connection) -> None:
    form = valid_product_form(conn, 1)
    form.update(name="Admin Renamed Lamp", price="123.45", special_price="99.50", stock="17")
    form["description"] = "Rewritten by the catalogue team."
    response = admin.post("/admin/products/1", data=form)
    assert response.status_code == 200
    assert "saved" in message(response)
    assert page_of(response).xpath("//input[@id='special_price']/@value") == ["99.50"]
    row = conn.execute("SELECT * FROM products WHERE id = 1").fetchone()
    assert (row["name"], row["price_cents"], row["special_cents"], row["stock"]) == (
        "Admin Renamed Lamp",
        12345,
        9950,
        17,
    )
    assert row["description"] == "Rewritten by the catalogue team."


def test_product_edit_shows_on_the_storefront(admin: TestClient, conn: sqlite3.Connection) -> None:
    edit = page_of(admin.get("/admin/products/1"))
    storefront_path = edit.xpath("//a[normalize-space()='View on storefront']/@href")[0]
    form = valid_product_form(conn, 1)
    form.update(name="Admin Renamed Lamp", price="123.45", special_price="99.50", stock="17")
    admin.post("/admin/products/1", data=form)
    storefront = admin.get(storefront_path)
    assert storefront.status_code == 200
    assert "Admin Renamed Lamp" in storefront.text
    assert "$99.50" in storefront.text and "$123.45" in storefront.text

    admin.post("/admin/products/1", data={**form, "status": "disabled"})
    assert admin.get(storefront_path).status_code == 404


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"name": ""}, "Name"),
        ({"name": "x" * 201}, "at most 200"),
        ({"price": "abc"}, "enter an amount"),
        ({"price": "-5"}, "must not be negative"),
        ({"price": "12.345"}, "enter an amount"),
        ({"price": "9" * 40}, "at most $1,000,000.00"),
        ({"special_price": "100000"}, "lower than the price"),
        ({"stock": "-1"}, "greater than or equal to 0"),
        ({"stock": "2.5"}, "whole number"),
        ({"stock": "10000001"}, "less than or equal to"),
        ({"status": "deleted"}, "Status"),
        ({"category_id": "999999"}, "no category"),
        ({"description": "y" * 20_001}, "at most 20000"),
    ],
)
def test_invalid_product_edit_changes_nothing(
    refused: TestClient, refused_db: sqlite3.Connection, change: dict[str, str], text: str
) -> None:
    before = tuple(refused_db.execute("SELECT * FROM products WHERE id = 1").fetchone())
    # A valid name change rides along: it must not be saved either.
    form = {**valid_product_form(refused_db, 1), "name": "Half Saved", **change}
    response = refused.post("/admin/products/1", data=form)
    assert response.status_code == 422
    assert "not saved" in message(response) and text in message(response)
    assert tuple(refused_db.execute("SELECT * FROM products WHERE id = 1").fetchone()) == before


# --- customers ------------------------------------------------------------------------------


def test_customers_search_and_sort(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    email = view_db.execute("SELECT email FROM customers ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert column(viewer.get(f"/admin/customers?q={email}"), "Email") == [email]
    sales = [
        cents(s)
        for s in column(viewer.get("/admin/customers?sort=sales&dir=desc"), "Lifetime sales")
    ]
    assert sales == sorted(sales, reverse=True)
    assert (
        showing_total(viewer.get("/admin/customers"))
        == view_db.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
    )


def test_customer_view_shows_orders_wishlist_and_newsletter(
    viewer: TestClient, view_db: sqlite3.Connection
) -> None:
    customer_id, email, wished = view_db.execute(
        "SELECT c.id, c.email, COUNT(w.product_id) FROM customers c"
        " JOIN wishlist w ON w.customer_id = c.id GROUP BY c.id ORDER BY c.id LIMIT 1"
    ).fetchone()
    numbers = [
        row[0]
        for row in view_db.execute(
            "SELECT number FROM orders WHERE customer_id = ? ORDER BY created_at DESC, id DESC",
            (customer_id,),
        )
    ]
    subscribed = view_db.execute("SELECT 1 FROM newsletter WHERE email = ?", (email,)).fetchone()
    response = viewer.get(f"/admin/customers/{customer_id}")
    assert [row[0] for row in table(response)] == numbers
    doc = page_of(response)
    wishlist = doc.xpath("//section[@aria-labelledby='wishlist-title']//tbody/tr")
    assert len(wishlist) == wished
    newsletter = doc.xpath("string(//dt[.='Newsletter']/following-sibling::dd[1])")
    assert newsletter.startswith("Subscribed" if subscribed else "Not subscribed")


# --- reviews --------------------------------------------------------------------------------


def rating(conn: sqlite3.Connection, product_id: int) -> tuple[float, int]:
    row = conn.execute(
        "SELECT rating_avg, rating_count FROM products WHERE id = ?", (product_id,)
    ).fetchone()
    return row[0], row[1]


def approved_rating(conn: sqlite3.Connection, product_id: int) -> tuple[float, int]:
    avg, count = conn.execute(
        "SELECT COALESCE(ROUND(AVG(rating), 2), 0), COUNT(*) FROM reviews"
        " WHERE product_id = ? AND status = 'approved'",
        (product_id,),
    ).fetchone()
    return avg, count


def test_review_approve_reject_delete_keep_the_rating(
    admin: TestClient, conn: sqlite3.Connection
) -> None:
    product_id = conn.execute("SELECT id FROM products ORDER BY id LIMIT 1").fetchone()[0]
    conn.execute(
        "INSERT INTO reviews (product_id, nickname, rating, title, body, status, created_at)"
        " VALUES (?, 'Critic', 1, 'Broke at once', 'Stopped working.', 'pending', ?)",
        (product_id, db.now()),
    )
    conn.commit()
    review_id = conn.execute("SELECT MAX(id) FROM reviews").fetchone()[0]
    _, count_before = rating(conn, product_id)

    pending = admin.get("/admin/reviews?status=pending&limit=200")
    assert "Broke at once" in pending.text
    response = admin.post(
        "/admin/reviews/moderate",
        data={
            "action": "approve",
            "review_id": str(review_id),
            "back": "/admin/reviews?status=pending",
        },
    )
    assert "1 review(s) approved" in message(response)
    assert "Broke at once" not in response.text  # back on the pending tab, where it is gone
    assert rating(conn, product_id) == approved_rating(conn, product_id)
    assert rating(conn, product_id)[1] == count_before + 1

    admin.post("/admin/reviews/moderate", data={"action": "reject", "review_id": str(review_id)})
    assert rating(conn, product_id) == approved_rating(conn, product_id)
    assert rating(conn, product_id)[1] == count_before

    admin.post("/admin/reviews/moderate", data={"action": "delete", "review_id": str(review_id)})
    assert (
        conn.execute("SELECT COUNT(*) FROM reviews WHERE id = ?", (review_id,)).fetchone()[0] == 0
    )


def test_bulk_moderation_with_an_unknown_id_changes_nothing(
    refused: TestClient, refused_db: sqlite3.Connection
) -> None:
    ids = [
        r[0]
        for r in refused_db.execute("SELECT id FROM reviews WHERE status != 'rejected' LIMIT 3")
    ]
    response = refused.post(
        "/admin/reviews/moderate",
        data={"action": "reject", "review_id": [*map(str, ids), "99999999"]},
    )
    assert response.status_code == 404
    assert "99999999" in message(response)
    marks = ", ".join("?" * len(ids))
    rejected = refused_db.execute(
        f"SELECT COUNT(*) FROM reviews WHERE status = 'rejected' AND id IN ({marks})", ids
    ).fetchone()[0]
    assert rejected == 0


def test_review_tabs_filter_by_status(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    for status in ("pending", "approved", "rejected"):
        count = view_db.execute(
            "SELECT COUNT(*) FROM reviews WHERE status = ?", (status,)
        ).fetchone()[0]
        assert showing_total(viewer.get(f"/admin/reviews?status={status}")) == count


# --- reports and dashboard ------------------------------------------------------------------


def sql_sales(conn: sqlite3.Connection, chars: int, start: str, end: str) -> list[list[object]]:
    rows = conn.execute(
        f"SELECT substr(created_at, 1, {chars}) AS period, COUNT(*),"
        " SUM((SELECT SUM(qty) FROM order_items WHERE order_id = o.id)), SUM(total_cents)"
        " FROM orders o WHERE status NOT IN ('canceled', 'refunded')"
        " AND substr(created_at, 1, 10) BETWEEN ? AND ? GROUP BY period ORDER BY period",
        (start, end),
    ).fetchall()
    return [list(row) for row in rows]


@pytest.mark.parametrize(("period", "chars"), [("day", 10), ("month", 7), ("year", 4)])
def test_sales_report_equals_sql(
    viewer: TestClient, view_db: sqlite3.Connection, period: str, chars: int
) -> None:
    start, end = view_db.execute(
        "SELECT MIN(substr(created_at, 1, 10)), MAX(substr(created_at, 1, 10)) FROM orders"
    ).fetchone()
    response = viewer.get(f"/admin/reports/sales?period={period}&date_from={start}&date_to={end}")
    shown = [[r[0], int(r[1]), int(r[2]), cents(r[5])] for r in table(response)]
    expected = sql_sales(view_db, chars, start, end)
    assert shown == expected and expected


def test_bestsellers_report_equals_sql(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    start, end = view_db.execute(
        "SELECT MIN(substr(created_at, 1, 10)), MAX(substr(created_at, 1, 10)) FROM orders"
    ).fetchone()
    response = viewer.get(f"/admin/reports/bestsellers?date_from={start}&date_to={end}&top=10")
    expected = view_db.execute(
        "SELECT p.sku, SUM(i.qty), SUM(i.qty * i.price_cents) FROM order_items i"
        " JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id"
        " WHERE o.status NOT IN ('canceled', 'refunded')"
        " GROUP BY i.product_id ORDER BY 2 DESC, 3 DESC, i.product_id LIMIT 10"
    ).fetchall()
    shown = [(r[2], int(r[3]), cents(r[5])) for r in table(response)]
    assert shown == [tuple(row) for row in expected]


def test_dashboard_figures_equal_sql(viewer: TestClient, view_db: sqlite3.Connection) -> None:
    doc = page_of(viewer.get("/admin/dashboard"))

    def figure(name: str) -> str:
        return doc.xpath(f"string(//dd[@data-figure='{name}'])").strip()

    orders, paid, sales = view_db.execute(
        "SELECT COUNT(*), SUM(status NOT IN ('canceled', 'refunded')),"
        " SUM(CASE WHEN status NOT IN ('canceled', 'refunded') THEN total_cents END) FROM orders"
    ).fetchone()
    assert int(figure("orders")) == orders
    assert cents(figure("lifetime-sales")) == sales
    assert cents(figure("average-order")) == sales // paid
    recent = view_db.execute(
        "SELECT SUM(total_cents) FROM orders WHERE status NOT IN ('canceled', 'refunded')"
        " AND date(created_at) >= date((SELECT MAX(created_at) FROM orders), '-29 days')"
    ).fetchone()[0]
    assert cents(figure("revenue-30d")) == recent


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/admin/orders/99999999", 404, "does not exist"),
        ("/admin/products/99999999", 404, "does not exist"),
        ("/admin/customers/99999999", 404, "does not exist"),
        ("/admin/orders/abc", 422, "valid integer"),
        ("/admin/products/-3", 422, "greater than or equal to 1"),
        ("/admin/orders/" + "9" * 40, 422, "less than or equal to"),
        ("/admin/orders?page=0", 422, "page"),
        ("/admin/orders?page=abc", 422, "page"),
        ("/admin/orders?page=5000", 404, "Page 5000 does not exist"),
        ("/admin/orders?page=" + "9" * 30, 422, "page"),
        ("/admin/orders?limit=7", 422, "page size"),
        ("/admin/orders?sort=password_hash", 422, "cannot sort by"),
        ("/admin/orders?dir=sideways", 422, "dir"),
        ("/admin/orders?status=lost", 422, "status"),
        ("/admin/orders?date_from=2024-02-30", 422, "date_from"),
        ("/admin/orders?date_from=yesterday", 422, "date_from"),
        ("/admin/orders?date_from=2025-01-02&date_to=2025-01-01", 422, "start date"),
        ("/admin/orders?customer=" + "a" * 500, 422, "customer"),
        ("/admin/orders?total_from=cheap", 422, "total_from"),
        ("/admin/orders?total_to=-1", 422, "total_to"),
        ("/admin/products?price_from=1.999", 422, "price_from"),
        ("/admin/products?price_to=1e12", 422, "price_to"),
        ("/admin/products?price_to=nan", 422, "price_to"),
        ("/admin/products?category=99999999", 404, "Category 99999999 does not exist"),
        ("/admin/products?stock=lots", 422, "stock"),
        ("/admin/reviews?rating=6", 422, "rating"),
        ("/admin/reviews?product_id=99999999", 404, "does not exist"),
        ("/admin/reports/sales?period=week", 422, "period"),
        ("/admin/reports/sales?status=lost", 422, "order status"),
        ("/admin/reports/bestsellers?top=1000000", 422, "top"),
        ("/admin/reports/bestsellers?date_to=99999-01-01", 422, "date_to"),
        ("/admin/no-such-page", 404, "Not Found"),
    ],
)
def test_bad_query_gets_a_clear_4xx(viewer: TestClient, path: str, status: int, text: str) -> None:
    response = viewer.get(path)
    assert response.status_code == status
    assert text in message(response)


@pytest.mark.parametrize(
    ("path", "back_link"),
    [("/admin/orders/99999999", "/admin"), ("/products/999999", "/")],
)
def test_error_page_leads_back_to_its_own_side(
    viewer: TestClient, path: str, back_link: str
) -> None:
    """An admin error leads back to the admin, a storefront error back to the shop."""
    response = viewer.get(path)
    assert response.status_code == 404
    assert page_of(response).xpath("//main//a/@href") == [back_link]


@pytest.mark.parametrize(
    ("form", "status", "text"),
    [
        ({"action": "approve"}, 400, "Select at least one review"),
        ({"action": "explode", "review_id": "1"}, 400, "Unknown action"),
        ({"action": "approve", "review_id": "1; DROP TABLE reviews"}, 400, "not a review id"),
        ({"action": "approve", "review_id": [str(i) for i in range(1, 300)]}, 400, "at most"),
    ],
)
def test_bad_moderation_gets_a_clear_4xx(
    refused: TestClient, refused_db: sqlite3.Connection, form: dict, status: int, text: str
) -> None:
    before = refused_db.execute("SELECT status, COUNT(*) FROM reviews GROUP BY status").fetchall()
    response = refused.post("/admin/reviews/moderate", data=form)
    assert response.status_code == status
    assert text in message(response)
    assert (
        refused_db.execute("SELECT status, COUNT(*) FROM reviews GROUP BY status").fetchall()
        == before
    )


def test_overlong_order_comment_is_refused(
    refused: TestClient, refused_db: sqlite3.Connection
) -> None:
    refused_db.execute("UPDATE orders SET status = 'complete' WHERE id = 1")
    refused_db.commit()
    history = refused_db.execute(
        "SELECT COUNT(*) FROM order_history WHERE order_id = 1"
    ).fetchone()[0]
    form = {"status": "refunded", "comment": "x" * 5000}
    response = refused.post("/admin/orders/1/status", data=form)
    assert response.status_code == 400
    assert "too long" in message(response)
    assert refused_db.execute("SELECT status FROM orders WHERE id = 1").fetchone()[0] == "complete"
    count = refused_db.execute("SELECT COUNT(*) FROM order_history WHERE order_id = 1").fetchone()[
        0
    ]
    assert count == history


# --- in a real browser ----------------------------------------------------------------------


def query_one(data_dir: Path, sql: str, *params: object) -> tuple:
    connection = db.connect(data_dir)
    try:
        return tuple(connection.execute(sql, params).fetchone())
    finally:
        connection.close()


@pytest.mark.browser
async def test_admin_in_a_browser(
    browser_pool: BrowserPool, shop_server: str, shop_data_dir: Path
) -> None:
    """Sign in through the form, filter a grid, change an order, moderate with select-all."""
    order_id, number = query_one(  # the newest complete order: first in the filtered grid
        shop_data_dir,
        "SELECT id, number FROM orders WHERE status = 'complete' ORDER BY created_at DESC, id DESC",
    )
    (complete,) = query_one(shop_data_dir, "SELECT COUNT(*) FROM orders WHERE status = 'complete'")
    (pending,) = query_one(shop_data_dir, "SELECT COUNT(*) FROM reviews WHERE status = 'pending'")
    assert pending >= 1
    session = await browser_pool.new_session(
        allowed_hosts=[shop_server.removeprefix("http://")],
        config=SessionConfig(token_budget=50_000),
    )
    try:
        obs = await session.start(f"{shop_server}/admin/orders")
        assert "/admin/login?next=" in obs.url
        obs = await session.step(f'type("{element_id(obs, "textbox", "Username")}", "admin")')
        password = element_id(obs, "textbox", "Password")
        obs = await session.step(f'type("{password}", {accounts.ADMIN.password!r}, submit=True)')
        assert obs.url.endswith("/admin/orders"), obs.text

        obs = await session.step(f'select("{element_id(obs, "combobox", "Status")}", "Complete")')
        obs = await session.step(f'click("{element_id(obs, "button", "Search")}")')
        # Blank filters stay out of the address.
        assert obs.url.endswith("/admin/orders?status=complete&limit=20&sort=created_at&dir=desc")
        assert f"of {complete} orders" in obs.text

        obs = await session.step(f'click("{element_id(obs, "link", f"View order {number}")}")')
        assert obs.url.endswith(f"/admin/orders/{order_id}")
        obs = await session.step(f'select("{element_id(obs, "combobox", "Status")}", "Refunded")')
        obs = await session.step(f'type("{element_id(obs, "textbox", "Comment")}", "Returned")')
        obs = await session.step(f'click("{element_id(obs, "button", "Submit")}")')
        assert "The order status was updated." in obs.text
        assert "Refunded | Returned | admin" in obs.text

        obs = await session.step(f"goto('{shop_server}/admin/reviews?status=pending&limit=200')")
        box = element_id(obs, "checkbox", "Select all reviews on this page")
        obs = await session.step(f'click("{box}")')
        obs = await session.step(f'select("{element_id(obs, "combobox", "Action")}", "Reject")')
        obs = await session.step(f'click("{element_id(obs, "button", "Apply to selected")}")')
        assert f"{pending} review(s) rejected." in obs.text
    finally:
        await session.close()
    assert query_one(shop_data_dir, "SELECT status FROM orders WHERE id = ?", order_id) == (
        "refunded",
    )
    assert query_one(shop_data_dir, "SELECT COUNT(*) FROM reviews WHERE status = 'pending'") == (0,)
