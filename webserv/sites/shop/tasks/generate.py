"""Generate the shop suite's ``tasks.json`` from the golden data of the manifest's seed.

Every reference answer and every expected state is read from the seeded ``shop.db`` (the
reports through the admin's own report functions), so the answers are right by construction
for that data. Run it again whenever the seeder or the pages change::

    python -m webserv.sites.shop.tasks.generate            # seeds a temporary data dir
    python -m webserv.sites.shop.tasks.generate --data-dir DIR
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from webserv.sites.shop import accounts, db
from webserv.sites.shop.admin.reports import bestsellers, sales_by_period
from webserv.sites.shop.shipping import METHODS
from webserv.sites.shop.web import money
from webserv.tasks.authoring import Task, task

HERE = Path(__file__).parent
ADMIN = "__SHOPPING_ADMIN__"
SHOP = "__SHOPPING__"
PER_TEMPLATE = 3
MONTHS = (
    "January February March April May June July August September October November December"
).split()

Template = Callable[[sqlite3.Connection, random.Random], Iterator[Task]]
TEMPLATES: list[tuple[int, Template]] = []


def template(template_id: int) -> Callable[[Template], Template]:
    def register(fn: Template) -> Template:
        TEMPLATES.append((template_id, fn))
        return fn

    return register


def answer(kind: str, value: str) -> dict[str, Any]:
    refs: Any = [value] if kind == "must_include" else value
    return {"eval_types": ["string_match"], "reference_answers": {kind: refs}}


def html_check(url: str, locator: str, kind: str, value: str) -> dict[str, Any]:
    refs: Any = [value] if kind == "must_include" else value
    return {
        "eval_types": ["program_html"],
        "program_html": [{"url": url, "locator": locator, "required_contents": {kind: refs}}],
    }


def q(text: str) -> str:
    """A string literal for an action."""
    return json.dumps(text)


def el(role: str, name: str) -> str:
    """An element named as the observation shows it (``button "Save"``), as a string literal;
    the reference policy turns it into the element's id."""
    return json.dumps(f"{role} {json.dumps(name, ensure_ascii=False)}", ensure_ascii=False)


def sample(rng: random.Random, rows: list[Any], n: int = PER_TEMPLATE) -> list[Any]:
    return rng.sample(rows, min(n, len(rows)))


def unique_names(conn: sqlite3.Connection, sql: str) -> list[sqlite3.Row]:
    """Rows whose ``name`` column is unique in the result (so a question names one thing)."""
    rows = conn.execute(sql).fetchall()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["name"]] = counts.get(row["name"], 0) + 1
    return [row for row in rows if counts[row["name"]] == 1]


def month_range(month: str) -> tuple[date, date]:
    year, mon = map(int, month.split("-"))
    end = date(year + mon // 12, mon % 12 + 1, 1).toordinal() - 1
    return date(year, mon, 1), date.fromordinal(end)


def month_label(month: str) -> str:
    year, mon = month.split("-")
    return f"{MONTHS[int(mon) - 1]} {year}"


# ---- admin: information seeking ---------------------------------------------------------


@template(1)
def order_total(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = conn.execute("SELECT id, number, total_cents FROM orders ORDER BY id").fetchall()
    for row in sample(rng, rows):
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/orders",
            intent_template="What is the grand total of order #{{number}}?",
            values={"number": row["number"]},
            evaluation=answer("must_include", money(row["total_cents"])),
            solution=[
                f"type({el('searchbox', 'Order number')}, {q(row['number'])}, submit=True)",
                f"click({el('link', 'View order ' + row['number'])})",
                f"stop({q(money(row['total_cents']))})",
            ],
        )


SEARCH_CUSTOMERS = "Name, email, phone or city"


@template(2)
def customer_order_count(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(
        conn,
        "SELECT c.id, c.first_name || ' ' || c.last_name AS name,"
        " (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) AS n"
        " FROM customers c ORDER BY c.id",
    )
    for row in sample(rng, rows):
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/customers",
            intent_template="How many orders has the customer {{name}} placed in total?",
            values={"name": row["name"]},
            evaluation=answer("must_include", str(row["n"])),
            solution=[
                f"type({el('searchbox', SEARCH_CUSTOMERS)}, {q(row['name'])}, submit=True)",
                f"click({el('link', 'View ' + row['name'])})",
                f"stop({q(str(row['n']))})",
            ],
        )


@template(3)
def customer_phone(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(
        conn,
        "SELECT id, first_name || ' ' || last_name AS name, email, phone FROM customers"
        " WHERE phone != '' ORDER BY id",
    )
    for row in sample(rng, rows):
        yield task(
            site="shopping_admin",
            start_url=ADMIN,
            intent_template="What is the phone number of the customer with email {{email}}?",
            values={"email": row["email"]},
            evaluation=answer("must_include", row["phone"]),
            solution=[f"goto('{ADMIN}/customers/{row['id']}')", f"stop({q(row['phone'])})"],
        )


def order_months(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT substr(created_at, 1, 7) FROM orders ORDER BY 1"
        ).fetchall()
    ]


@template(4)
def top_bestseller(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    candidates = []
    for month in order_months(conn):
        start, end = month_range(month)
        rows = bestsellers(conn, start, end, "counted", 10)
        # A tie in quantity makes "the best-selling product" ambiguous: skip such months.
        if rows and (len(rows) == 1 or rows[0]["qty"] > rows[1]["qty"]):
            candidates.append((month, start, end, rows[0]["name"]))
    for month, start, end, name in sample(rng, candidates):
        query = urlencode({"date_from": start.isoformat(), "date_to": end.isoformat()})
        yield task(
            site="shopping_admin",
            start_url=ADMIN,
            intent_template="What is the top-1 best-selling product in {{month}}?",
            values={"month": month_label(month)},
            evaluation=answer("exact_match", name),
            solution=[f"goto('{ADMIN}/reports/bestsellers?{query}')", f"stop({q(name)})"],
        )


@template(5)
def monthly_revenue(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    candidates = []
    for month in order_months(conn):
        start, end = month_range(month)
        rows = sales_by_period(conn, "month", start, end, "counted")
        if rows:
            candidates.append((month, start, end, money(rows[0].revenue_cents)))
    for month, start, end, revenue in sample(rng, candidates):
        query = urlencode(
            {"period": "month", "date_from": start.isoformat(), "date_to": end.isoformat()}
        )
        yield task(
            site="shopping_admin",
            start_url=ADMIN,
            intent_template=(
                "What was the shop's revenue in {{month}}, not counting canceled or "
                "refunded orders?"
            ),
            values={"month": month_label(month)},
            evaluation=answer("must_include", revenue),
            solution=[f"goto('{ADMIN}/reports/sales?{query}')", f"stop({q(revenue)})"],
        )


@template(6)
def orders_by_status(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = conn.execute("SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY status")
    for row in sample(rng, rows.fetchall()):
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/orders",
            intent_template="How many orders have the status {{status}}?",
            values={"status": row["status"]},
            evaluation=answer("must_include", str(row["n"])),
            solution=[
                f"select({el('combobox', 'Status')}, {q(row['status'].capitalize())})",
                f"click({el('button', 'Search')})",
                f"stop({q(str(row['n']))})",
            ],
        )


@template(7)
def product_stock(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(conn, "SELECT id, name, sku, stock FROM products ORDER BY id")
    for row in sample(rng, rows):
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/products",
            intent_template="How many units of the product with SKU {{sku}} are in stock?",
            values={"sku": row["sku"]},
            evaluation=answer("must_include", str(row["stock"])),
            solution=[
                f"type({el('searchbox', 'Name or SKU')}, {q(row['sku'])}, submit=True)",
                f"click({el('link', 'Edit ' + row['name'])})",
                f"stop({q(str(row['stock']))})",
            ],
        )


@template(8)
def product_rating(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(
        conn,
        "SELECT id, name, rating_avg, rating_count FROM products WHERE rating_count > 1"
        " ORDER BY id",
    )
    for row in sample(rng, rows):
        rating = f"{row['rating_avg']:.2f}"
        yield task(
            site="shopping_admin",
            start_url=ADMIN,
            intent_template=(
                "What is the average rating of {{product}} over its approved reviews? "
                "Give it with two decimals."
            ),
            values={"product": row["name"]},
            evaluation=answer("must_include", rating),
            solution=[f"goto('{ADMIN}/products/{row['id']}')", f"stop({q(rating)})"],
        )


# ---- admin: changes of state, checked on the admin's own pages --------------------------


@template(20)
def refund_order(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = conn.execute("SELECT id, number FROM orders WHERE status = 'complete' ORDER BY id")
    for row in sample(rng, rows.fetchall()):
        url = f"{ADMIN}/orders/{row['id']}"
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/orders",
            intent_template="Refund order #{{number}}.",
            values={"number": row["number"]},
            evaluation=html_check(
                url, "document.querySelector('h1 + p').innerText", "must_include", "Refunded"
            ),
            solution=[
                f"goto('{url}')",
                f"select({el('combobox', 'Status')}, 'Refunded')",
                f"click({el('button', 'Submit')})",
                "stop()",
            ],
        )


@template(21)
def order_comment(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = conn.execute("SELECT id, number FROM orders ORDER BY id").fetchall()
    notes = ("Customer asked to leave the parcel at the back door", "Gift wrap requested")
    for i, row in enumerate(sample(rng, rows)):
        note = f"{notes[i % len(notes)]} (ticket {1000 + row['id']})"
        url = f"{ADMIN}/orders/{row['id']}"
        yield task(
            site="shopping_admin",
            start_url=ADMIN,
            intent_template='Add the comment "{{note}}" to order #{{number}}.',
            values={"note": note, "number": row["number"]},
            evaluation=html_check(url, "", "must_include", note),
            solution=[
                f"goto('{url}')",
                f"type({el('textbox', 'Comment')}, {q(note)})",
                f"click({el('button', 'Submit')})",
                "stop()",
            ],
        )


def product_field_check(product_id: int, field: str, expected: str) -> dict[str, Any]:
    locator = f"document.querySelector('#{field}').value"
    return html_check(f"{ADMIN}/products/{product_id}", locator, "exact_match", expected)


@template(22)
def set_price(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(conn, "SELECT id, name, price_cents FROM products ORDER BY id")
    for row in sample(rng, rows):
        price = f"{(row['price_cents'] + 500) / 100:.2f}"
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/products",
            intent_template="Change the price of {{product}} to ${{price}}.",
            values={"product": row["name"], "price": price},
            evaluation=product_field_check(row["id"], "price", price),
            solution=[
                f"goto('{ADMIN}/products/{row['id']}')",
                f"type({el('textbox', 'Price ($)')}, {q(price)})",
                f"click({el('button', 'Save')})",
                "stop()",
            ],
        )


@template(23)
def set_stock(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(conn, "SELECT id, name, sku, stock FROM products ORDER BY id")
    for row in sample(rng, rows):
        stock = str(row["stock"] + 25)
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/products",
            intent_template="We received a delivery: set the stock of SKU {{sku}} to {{stock}}.",
            values={"sku": row["sku"], "stock": stock},
            evaluation=product_field_check(row["id"], "stock", stock),
            solution=[
                f"type({el('searchbox', 'Name or SKU')}, {q(row['sku'])}, submit=True)",
                f"click({el('link', 'Edit ' + row['name'])})",
                f"type({el('textbox', 'Quantity in stock')}, {q(stock)})",
                f"click({el('button', 'Save')})",
                "stop()",
            ],
        )


@template(24)
def disable_product(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(conn, "SELECT id, name FROM products WHERE status = 'enabled' ORDER BY id")
    for row in sample(rng, rows):
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/products",
            intent_template="Take {{product}} off sale by disabling it.",
            values={"product": row["name"]},
            evaluation=product_field_check(row["id"], "status", "disabled"),
            solution=[
                f"goto('{ADMIN}/products/{row['id']}')",
                f"select({el('combobox', 'Status')}, 'Disabled')",
                f"click({el('button', 'Save')})",
                "stop()",
            ],
        )


@template(25)
def feature_product(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = unique_names(conn, "SELECT id, name FROM products WHERE is_featured = 0 ORDER BY id")
    for row in sample(rng, rows):
        url = f"{ADMIN}/products/{row['id']}"
        yield task(
            site="shopping_admin",
            start_url=ADMIN,
            intent_template="Feature {{product}} on the home page.",
            values={"product": row["name"]},
            evaluation=html_check(
                url, "document.querySelector('#is_featured').checked", "exact_match", "true"
            ),
            solution=[
                f"goto('{url}')",
                f"click({el('checkbox', 'Featured on the home page')})",
                f"click({el('button', 'Save')})",
                "stop()",
            ],
        )


def pending_reviews(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT r.id, r.title, r.nickname, r.product_id, p.name AS product FROM reviews r"
        " JOIN products p ON p.id = r.product_id WHERE r.status = 'pending' ORDER BY r.id"
    ).fetchall()


def moderate(rows: list[sqlite3.Row], action: str) -> Iterator[Task]:
    label, state = {"approve": ("Approve", "Approved"), "reject": ("Reject", "Rejected")}[action]
    for row in rows:
        button = f"{label} review {row['id']}: {row['title']}"
        row_locator = (
            f"document.querySelector('input[name=review_id][value=\"{row['id']}\"]')"
            ".closest('tr').innerText"
        )
        yield task(
            site="shopping_admin",
            start_url=f"{ADMIN}/reviews",
            intent_template=f'{label} the pending review "{{{{title}}}}" that {{{{nickname}}}}'
            " wrote about {{product}}.",
            values={"title": row["title"], "nickname": row["nickname"], "product": row["product"]},
            evaluation=html_check(
                f"{ADMIN}/reviews?product_id={row['product_id']}",
                row_locator,
                "must_include",
                state,
            ),
            solution=[
                f"goto('{ADMIN}/reviews?status=pending&product_id={row['product_id']}')",
                f"click({el('button', button)})",
                "stop()",
            ],
        )


@template(26)
def approve_review(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = pending_reviews(conn)
    half = len(rows) // 2
    yield from moderate(rows[:half][:PER_TEMPLATE], "approve")


@template(27)
def reject_review(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = pending_reviews(conn)
    half = len(rows) // 2
    yield from moderate(rows[half:][:PER_TEMPLATE], "reject")


# ---- storefront: the documented customer, every page behind the cookie dialog -------------

ACCEPT_COOKIES = f"click({el('button', 'Accept cookies and close')})"


def customer_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT id FROM customers WHERE email = ?", (accounts.CUSTOMER.login,))
    return int(row.fetchone()["id"])


def effective_price(row: sqlite3.Row) -> int:
    special = row["special_cents"]
    return special if special is not None else row["price_cents"]


def on_sale(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return unique_names(
        conn,
        "SELECT id, name, price_cents, special_cents, options_json, stock, rating_count"
        " FROM products WHERE status = 'enabled' ORDER BY id",
    )


@template(40)
def search_price(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    for row in sample(rng, on_sale(conn)):
        price = money(effective_price(row))
        yield task(
            site="shopping",
            start_url=SHOP,
            intent_template="How much does {{product}} cost today?",
            values={"product": row["name"]},
            evaluation=answer("must_include", price),
            solution=[
                ACCEPT_COOKIES,
                f"type({el('combobox', 'Search')}, {q(row['name'])}, submit=True)",
                f"click({el('link', row['name'])})",
                f"stop({q(price)})",
            ],
        )


@template(41)
def cheaper_of_two(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = on_sale(conn)
    pairs = []
    for _ in range(PER_TEMPLATE):
        first, second = rng.sample(rows, 2)
        if effective_price(first) != effective_price(second):
            pairs.append((first, second))
    for first, second in pairs:
        cheaper = min((first, second), key=effective_price)
        yield task(
            site="shopping",
            start_url=SHOP,
            intent_template="Which is cheaper right now, {{first}} or {{second}}?",
            values={"first": first["name"], "second": second["name"]},
            evaluation=answer("exact_match", cheaper["name"]),
            solution=[
                ACCEPT_COOKIES,
                f"goto('{SHOP}/products/{first['id']}')",
                f"goto('{SHOP}/products/{second['id']}')",
                f"stop({q(cheaper['name'])})",
            ],
        )


@template(42)
def review_count(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = [row for row in on_sale(conn) if row["rating_count"] > 1]
    for row in sample(rng, rows):
        count = str(row["rating_count"])
        yield task(
            site="shopping",
            start_url=SHOP,
            intent_template="How many customer reviews does {{product}} have?",
            values={"product": row["name"]},
            evaluation=answer("must_include", count),
            solution=[
                ACCEPT_COOKIES,
                f"type({el('combobox', 'Search')}, {q(row['name'])}, submit=True)",
                f"click({el('link', row['name'])})",
                f"stop({q(count)})",
            ],
        )


@template(43)
def my_order_total(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = conn.execute(
        "SELECT number, total_cents FROM orders WHERE customer_id = ? ORDER BY id",
        (customer_id(conn),),
    ).fetchall()
    for row in sample(rng, rows):
        total = money(row["total_cents"])
        yield task(
            site="shopping",
            start_url=SHOP,
            intent_template="How much did I pay in total for my order #{{number}}?",
            values={"number": row["number"]},
            evaluation=answer("must_include", total),
            solution=[
                ACCEPT_COOKIES,
                f"click({el('link', 'My Orders')})",
                f"stop({q(total)})",
            ],
        )


def latest_order_check(total: str) -> dict[str, Any]:
    """The customer's newest order, as the admin's order grid lists it."""
    query = urlencode({"customer": accounts.CUSTOMER.login, "sort": "created_at", "dir": "desc"})
    check = html_check(
        f"{ADMIN}/orders?{query}",
        "document.querySelector('table.grid tbody tr').innerText",
        "must_include",
        total,
    )
    # The shop's seeded orders are all past "pending": only the new order can be.
    check["program_html"][0]["required_contents"]["must_include"].append("Pending")
    return check


@template(50)
def buy(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    rows = [row for row in on_sale(conn) if row["stock"] >= 3]
    methods = list(METHODS.values())
    for i, row in enumerate(sample(rng, rows)):
        qty = 1 + i % 2
        method = methods[i % len(methods)]
        options = json.loads(row["options_json"])
        chosen = {name: values[-1] for name, values in options.items()}
        subtotal = qty * effective_price(row)
        cost = method.cost(subtotal)
        label = f"{method.label} ({method.days}): {money(cost) if cost else 'Free'}"
        wanted = ", ".join(f"{name.lower()} {value}" for name, value in chosen.items())
        yield task(
            site="shopping",
            start_url=f"{SHOP}/products/{row['id']}",
            intent_template="Buy {{qty}} of {{product}}{{options}} with {{method}}.",
            values={
                "qty": qty,
                "product": row["name"],
                "options": f" ({wanted})" if wanted else "",
                "method": method.label.lower(),
            },
            evaluation=latest_order_check(money(subtotal + cost)),
            solution=[
                ACCEPT_COOKIES,
                *(f"select({el('combobox', name)}, {q(value)})" for name, value in chosen.items()),
                f"type({el('textbox', 'Qty')}, '{qty}')",
                f"click({el('button', 'Add to Cart')})",
                f"goto('{SHOP}/checkout')",
                f"click({el('radio', label)})",
                f"click({el('button', 'Place Order')})",
                "stop()",
            ],
        )


REVIEW_TITLES = ("Great buy", "Works as described", "Could be better")


@template(51)
def write_review(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    for i, row in enumerate(sample(rng, on_sale(conn))):
        stars = 5 - i % 3
        title = f"{REVIEW_TITLES[i % len(REVIEW_TITLES)]} (#{row['id']})"
        body = "Arrived quickly and matches the description."
        yield task(
            site="shopping",
            start_url=f"{SHOP}/products/{row['id']}",
            intent_template=(
                'Review {{product}}: {{stars}} stars, summary "{{title}}", text "{{body}}".'
            ),
            values={"product": row["name"], "stars": stars, "title": title, "body": body},
            evaluation=html_check(
                f"{ADMIN}/reviews?{urlencode({'q': title})}",
                "document.querySelector('table.grid tbody').innerText",
                "must_include",
                f"{row['name']}",
            ),
            solution=[
                ACCEPT_COOKIES,
                # Filling the text first scrolls the form into view, which loads the reviews
                # above it; the clicks then aim at a page that no longer moves. Enter in the
                # summary field submits the form.
                f"type({el('textbox', 'Review')}, {q(body)})",
                f"click({el('radio', f'{stars} stars')})",
                f"type({el('textbox', 'Summary')}, {q(title)}, submit=True)",
                "stop()",
            ],
        )


@template(52)
def add_to_wishlist(conn: sqlite3.Connection, rng: random.Random) -> Iterator[Task]:
    listed = {
        row[0]
        for row in conn.execute(
            "SELECT product_id FROM wishlist WHERE customer_id = ?", (customer_id(conn),)
        )
    }
    rows = [row for row in on_sale(conn) if row["id"] not in listed]
    for row in sample(rng, rows):
        yield task(
            site="shopping",
            start_url=SHOP,
            intent_template="Add {{product}} to my wish list.",
            values={"product": row["name"]},
            evaluation=html_check(
                f"{SHOP}/account/wishlist",
                "document.querySelector('main').innerText",
                "must_include",
                row["name"],
            ),
            solution=[
                ACCEPT_COOKIES,
                f"type({el('combobox', 'Search')}, {q(row['name'])}, submit=True)",
                f"click({el('link', row['name'])})",
                f"click({el('button', 'Add to Wish List')})",
                "stop()",
            ],
        )


def golden_params() -> dict[str, Any]:
    """The shop golden data the suite targets (``suite.json``: ``golden.shop``)."""
    return json.loads((HERE / "suite.json").read_text())["golden"]["shop"]


def generate(data_dir: Path, seed: int, scale: float) -> list[Task]:
    """Every task of the suite, numbered in template order."""
    conn = db.connect(data_dir)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if (int(meta["seed"]), float(meta["scale"])) != (seed, scale):
        raise ValueError(
            f"{data_dir} holds seed {meta['seed']} scale {meta['scale']}, but the suite targets "
            f"seed {seed} scale {scale}"
        )
    tasks: list[Task] = []
    try:
        for template_id, fn in TEMPLATES:
            rng = random.Random(f"{seed}-{template_id}")
            for item in fn(conn, rng):
                tasks.append({"task_id": len(tasks), "intent_template_id": template_id, **item})
    finally:
        conn.close()
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="A data dir seeded as the manifest says.")
    parser.add_argument("--out", type=Path, default=HERE / "tasks.json")
    args = parser.parse_args()
    params = golden_params()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            from webserv.sites.shop.seed import seed

            data_dir = Path(tmp) / "data"
            seed(data_dir, seed=params["seed"], scale=params["scale"])
        tasks = generate(data_dir, params["seed"], params["scale"])
    args.out.write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(tasks)} tasks to {args.out}")


if __name__ == "__main__":
    main()
