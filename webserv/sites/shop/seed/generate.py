"""Build a golden data dir: catalogue, customers, two years of orders, reviews, images.

Everything comes from stage-specific ``random.Random`` streams derived from one seed and
fixed calendar dates (never the wall clock), so one seed always yields the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import sqlite3
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from webserv.sites.shop import SITE_VERSION, accounts, db
from webserv.sites.shop.security import hash_password
from webserv.sites.shop.seed import vocab
from webserv.sites.shop.seed.images import Shot, write_all
from webserv.sites.shop.shipping import METHODS

FULL_COUNTS = {"products": 2000, "customers": 300, "orders": 3000, "reviews": 5000}
MIN_COUNTS = {"products": 30, "customers": 5, "orders": 20, "reviews": 40}
CATALOG_FROM = datetime(2022, 9, 1)
CATALOG_TO = datetime(2023, 12, 31)
ORDERS_FROM = datetime(2024, 1, 1)
ORDERS_TO = datetime(2025, 12, 31, 23, 59, 59)  # the data's "now"
SERIES = ("Pro", "Plus", "Max", "Lite", "II", "Essential", "Elite", "Select", "Signature", "Go")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class SeedSummary(BaseModel):
    """What a seeding run produced."""

    path: str
    seed: int
    scale: float
    site_version: str
    categories: int
    products: int
    images: int
    customers: int
    orders: int
    order_items: int
    reviews: int
    total_bytes: int
    seconds: float


@dataclass
class _Product:
    id: int
    name: str
    sku: str
    type: str
    brand: str
    leaf: vocab.Leaf
    price: int
    options: dict[str, list[str]]
    enabled: bool
    popularity: float


@dataclass
class _Customer:
    id: int
    first: str
    last: str
    email: str
    address: tuple[str, str, str, str, str]
    phone: str
    orders: list[int] = field(default_factory=list)


def _ts(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def slugify(text: str) -> str:
    """``"Men's Clothing & Shoes"`` -> ``"mens-clothing-shoes"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower().replace("'", "")).strip("-")


def _words(text: str) -> set[str]:
    return set(re.split(r"[\s-]+", text.lower()))


def _count(kind: str, scale: float) -> int:
    return max(MIN_COUNTS[kind], round(FULL_COUNTS[kind] * scale))


def _price(rng: random.Random, low: int, high: int) -> int:
    """Log-uniform in [low, high], ending in .99 like shop prices do."""
    cents = math.exp(rng.uniform(math.log(low), math.log(high)))
    return max(99, int(cents // 100) * 100 + 99)


class _Builder:
    """Writes one data dir's rows, stage by stage; each stage draws from its own random
    stream, so changing one stage's logic leaves the others' output unchanged."""

    def __init__(self, conn: sqlite3.Connection, data_dir: Path, seed: int, scale: float) -> None:
        self.conn = conn
        self.data_dir = data_dir
        self.seed = seed
        self.scale = scale
        self.leaves: list[tuple[int, vocab.Department, vocab.Leaf]] = []
        self.brand_ids: dict[str, int] = {}
        self.products: list[_Product] = []
        self.customers: list[_Customer] = []
        self.shots: list[Shot] = []

    def rng(self, stage: str) -> random.Random:
        return random.Random(f"webserv-shop:{self.seed}:{stage}")

    def insert(self, table: str, row: dict[str, object]) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        cur = self.conn.execute(
            f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(row.values())
        )
        return int(cur.lastrowid or 0)

    def add_categories(self) -> None:
        position = 0
        for dept in vocab.DEPARTMENTS:
            position += 1
            parent = self.insert(
                "categories",
                {
                    "slug": slugify(dept.name),
                    "name": dept.name,
                    "description": dept.blurb,
                    "position": position,
                },
            )
            for leaf in dept.leaves:
                position += 1
                examples = ", ".join(t.lower() for t in leaf.types[:3])
                description = (
                    f"Shop {leaf.name.lower()}: {examples} and more from "
                    f"{', '.join(dept.brands[:3])} and other brands."
                )
                cid = self.insert(
                    "categories",
                    {
                        "parent_id": parent,
                        "slug": slugify(leaf.name),
                        "name": leaf.name,
                        "description": description,
                        "position": position,
                    },
                )
                self.leaves.append((cid, dept, leaf))
            for brand in dept.brands:
                self.brand_ids[brand] = self.insert("brands", {"name": brand})

    def _name(self, rng: random.Random, base: str, taken: set[str], number: int) -> str:
        if base not in taken:
            return base
        for series in rng.sample(SERIES, len(SERIES)):
            if f"{base} {series}" not in taken:
                return f"{base} {series}"
        return f"{base} Model {number}"

    def _description(
        self,
        rng: random.Random,
        brand: str,
        adj: str,
        ptype: str,
        leaf: vocab.Leaf,
        material: str,
    ) -> str:
        f1, f2, f3 = rng.sample(leaf.features, 3)
        opener = rng.choice(
            (
                "thoughtfully designed",
                "built to last",
                "a customer favourite",
                "our best-selling take on the classic",
                "engineered for everyday use",
            )
        )
        return "\n\n".join(
            (
                f"The {brand} {adj} {ptype} is {opener}, made from {material}. "
                f"It comes with {f1} and {f2}.",
                f"Whether it is for you or a gift, this {ptype.lower()} brings {f3} to your "
                f"{leaf.name.lower()} collection. {brand} backs it with a two-year warranty and "
                "free returns within 30 days.",
                f"What's in the box: one {ptype.lower()}, a quick-start guide and {brand} care "
                "instructions. Colours may vary slightly from the photographs.",
            )
        )

    def add_products(self) -> None:
        rng = self.rng("products")
        taken: set[str] = set()
        slugs: set[str] = set()
        for i in range(_count("products", self.scale)):
            cid, dept, leaf = self.leaves[i] if i < len(self.leaves) else rng.choice(self.leaves)
            brand = rng.choice(dept.brands)
            ptype = rng.choice(leaf.types)
            adj = rng.choice([a for a in leaf.adjectives if not _words(a) & _words(ptype)])
            name = self._name(rng, f"{brand} {adj} {ptype}", taken, 100 + i)
            taken.add(name)
            code = re.sub(r"[^A-Z]", "", leaf.name.upper())[:3]
            sku = f"{code}-{i + 1:05d}"
            slug = slugify(name)
            if slug in slugs:
                slug = f"{slug}-{sku.lower()}"
            slugs.add(slug)
            price = _price(rng, *leaf.price)
            special = None
            if rng.random() < 0.15:
                special = min(price - 100, _price(rng, int(price * 0.65), int(price * 0.9)))
            options = {opt: list(values) for opt, values in leaf.options.items()}
            if "Color" in options:
                offered = set(rng.sample(options["Color"], rng.randint(1, len(options["Color"]))))
                options["Color"] = [c for c in options["Color"] if c in offered]
            stock = 0 if rng.random() < 0.06 else int(rng.triangular(1, 300, 40))
            enabled = rng.random() >= 0.01
            created = _between(rng, CATALOG_FROM, CATALOG_TO)
            material = rng.choice(dept.materials)
            pid = self.insert(
                "products",
                {
                    "sku": sku,
                    "slug": slug,
                    "name": name,
                    "category_id": cid,
                    "brand_id": self.brand_ids[brand],
                    "price_cents": price,
                    "special_cents": special,
                    "stock": stock,
                    "description": self._description(rng, brand, adj, ptype, leaf, material),
                    "options_json": json.dumps(options),
                    "status": "enabled" if enabled else "disabled",
                    "created_at": _ts(created),
                    "updated_at": _ts(created),
                },
            )
            colors = options.get("Color") or [rng.choice(vocab.ALL_COLORS)]
            accent = rng.choice([c for c in vocab.ALL_COLORS if c != colors[0]])
            for view, label in ((1, "front view"), (2, "close-up")):
                rel = f"media/products/{pid:04d}/{view}.png"
                self.insert(
                    "product_images",
                    {"product_id": pid, "path": rel, "alt": f"{name}, {label}", "position": view},
                )
                self.shots.append(
                    Shot(
                        self.data_dir / rel,
                        leaf.shape,
                        vocab.COLORS[colors[0]],
                        vocab.COLORS[accent],
                        view,
                        rng.getrandbits(32),
                    )
                )
            self.products.append(
                _Product(
                    pid,
                    name,
                    sku,
                    ptype,
                    brand,
                    leaf,
                    special if special is not None else price,
                    options,
                    enabled,
                    rng.paretovariate(1.2),
                )
            )

    def add_customers(self) -> None:
        rng = self.rng("customers")
        emails: set[str] = set()
        for i in range(_count("customers", self.scale)):
            city, region, zip_prefix = rng.choice(vocab.CITIES)
            if i == 0:
                first, last, password = "Emma", "Lopez", accounts.CUSTOMER.password
                email = accounts.CUSTOMER.login
                city, region, zip_prefix = "Austin", "TX", "787"
            else:
                first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
                password = rng.randbytes(9).hex()
                handle = slugify(f"{first}.{last}").replace("-", ".")
                email = f"{handle}@example.com"
                while email in emails:
                    email = f"{handle}{rng.randint(2, 999)}@example.com"
            emails.add(email)
            street = (
                f"{rng.randint(10, 9899)} {rng.choice(vocab.STREETS)} "
                f"{rng.choice(vocab.STREET_SUFFIXES)}"
            )
            postcode = f"{zip_prefix}{rng.randint(1, 99):02d}"
            phone = f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}"
            cid = self.insert(
                "customers",
                {
                    "email": email,
                    "password_hash": hash_password(password, rng.randbytes(16)),
                    "first_name": first,
                    "last_name": last,
                    "phone": phone,
                    "street": street,
                    "city": city,
                    "region": region,
                    "postcode": postcode,
                    "country": "US",
                    "created_at": _ts(_between(rng, datetime(2022, 6, 1), ORDERS_FROM)),
                },
            )
            self.customers.append(
                _Customer(cid, first, last, email, (street, city, region, postcode, "US"), phone)
            )
        admin_rng = self.rng("admins")
        self.insert(
            "admins",
            {
                "username": accounts.ADMIN.login,
                "password_hash": hash_password(accounts.ADMIN.password, admin_rng.randbytes(16)),
                "name": "Store Administrator",
            },
        )

    def _pick_options(self, rng: random.Random, product: _Product) -> str:
        return ", ".join(
            f"{name}: {rng.choice(values)}" for name, values in product.options.items()
        )

    def _lifecycle(self, rng: random.Random, created: datetime) -> list[tuple[str, datetime, str]]:
        """The status history of an order placed at ``created``, as seen at ORDERS_TO."""
        steps = [("pending", created, "Order placed.")]
        age_days = (ORDERS_TO - created).days
        if age_days < 1:
            return steps
        at = created + timedelta(hours=rng.randint(1, 20))
        if age_days > 14 and rng.random() < 0.07:
            return [*steps, ("canceled", at, "Canceled at the customer's request.")]
        steps.append(("processing", at, "Payment captured."))
        if age_days < 3:
            return steps
        at += timedelta(days=rng.randint(1, 2), hours=rng.randint(0, 12))
        steps.append(("shipped", at, f"Shipped with tracking 1Z{rng.randrange(10**9):09d}."))
        if age_days < 9:
            return steps
        at += timedelta(days=rng.randint(2, 6))
        steps.append(("complete", at, "Delivered."))
        if rng.random() < 0.04:
            at += timedelta(days=rng.randint(3, 20))
            steps.append(("refunded", at, "Item returned; refund issued."))
        return steps

    def add_orders(self) -> int:
        rng = self.rng("orders")
        count = _count("orders", self.scale)
        moments = sorted(_between(rng, ORDERS_FROM, ORDERS_TO) for _ in range(count))
        emma_orders = set(rng.sample(range(count), min(5, count)))
        shoppers = self.customers[1:]
        loyalty = [rng.paretovariate(1.5) for _ in shoppers]
        sellable = [p for p in self.products if p.enabled]
        weights = [p.popularity for p in sellable]
        methods = list(METHODS.values())
        item_rows = 0
        for index, created in enumerate(moments):
            customer = (
                self.customers[0] if index in emma_orders else rng.choices(shoppers, loyalty)[0]
            )
            chosen: dict[int, _Product] = {}
            for _ in range(rng.choices((1, 2, 3, 4), (50, 30, 15, 5))[0]):
                product = rng.choices(sellable, weights)[0]
                chosen[product.id] = product
            items = [
                (p, self._pick_options(rng, p), rng.choices((1, 2, 3), (75, 18, 7))[0])
                for p in chosen.values()
            ]
            subtotal = sum(p.price * qty for p, _, qty in items)
            method = rng.choices(methods, (60, 25, 15))[0]
            shipping = method.cost(subtotal)
            history = self._lifecycle(rng, created)
            street, city, region, postcode, country = customer.address
            oid = self.insert(
                "orders",
                {
                    "number": f"{index + 1:09d}",
                    "customer_id": customer.id,
                    "status": history[-1][0],
                    "shipping_method": method.code,
                    "subtotal_cents": subtotal,
                    "shipping_cents": shipping,
                    "total_cents": subtotal + shipping,
                    "ship_name": f"{customer.first} {customer.last}",
                    "ship_street": street,
                    "ship_city": city,
                    "ship_region": region,
                    "ship_postcode": postcode,
                    "ship_country": country,
                    "ship_phone": customer.phone,
                    "created_at": _ts(created),
                    "updated_at": _ts(history[-1][1]),
                },
            )
            customer.orders.append(oid)
            for product, options, qty in items:
                item_rows += 1
                self.insert(
                    "order_items",
                    {
                        "order_id": oid,
                        "product_id": product.id,
                        "sku": product.sku,
                        "name": product.name,
                        "options": options,
                        "price_cents": product.price,
                        "qty": qty,
                    },
                )
            for status, at, comment in history:
                self.insert(
                    "order_history",
                    {
                        "order_id": oid,
                        "status": status,
                        "comment": comment,
                        "author": "customer" if status == "pending" else "system",
                        "created_at": _ts(at),
                    },
                )
        return item_rows

    def add_reviews(self) -> None:
        rng = self.rng("reviews")
        count = _count("reviews", self.scale)
        moments = sorted(_between(rng, ORDERS_FROM, ORDERS_TO) for _ in range(count))
        weights = [p.popularity for p in self.products]
        for created in moments:
            product = rng.choices(self.products, weights)[0]
            rating = rng.choices((5, 4, 3, 2, 1), (45, 28, 12, 7, 8))[0]
            customer = rng.choice(self.customers) if rng.random() < 0.75 else None
            nickname = (
                f"{customer.first} {customer.last[0]}."
                if customer
                else rng.choice(vocab.GUEST_NICKNAMES)
            )
            words = {
                "type": product.type.lower(),
                "brand": product.brand,
                "feature": rng.choice(product.leaf.features),
            }
            body = " ".join(
                s.format(**words)
                for s in (
                    rng.choice(vocab.REVIEW_OPENERS[rating]),
                    rng.choice(vocab.REVIEW_CLOSERS[rating]),
                )
                if s
            )
            self.insert(
                "reviews",
                {
                    "product_id": product.id,
                    "customer_id": customer.id if customer else None,
                    "nickname": nickname,
                    "rating": rating,
                    "title": rng.choice(vocab.REVIEW_TITLES[rating]),
                    "body": body,
                    "status": rng.choices(("approved", "pending", "rejected"), (90, 6, 4))[0],
                    "created_at": _ts(created),
                },
            )
        self.conn.execute(
            """UPDATE products SET
                 rating_count = (SELECT count(*) FROM reviews r
                                 WHERE r.product_id = products.id AND r.status = 'approved'),
                 rating_avg = coalesce((SELECT round(avg(rating), 2) FROM reviews r
                                 WHERE r.product_id = products.id AND r.status = 'approved'), 0)"""
        )

    def add_extras(self) -> None:
        """Featured items, wish lists and newsletter subscribers."""
        rng = self.rng("extras")
        enabled = [p for p in self.products if p.enabled]
        for product in rng.sample(enabled, min(24, len(enabled) // 3)):
            self.conn.execute("UPDATE products SET is_featured = 1 WHERE id = ?", (product.id,))
        for customer in self.customers:
            wanted = 3 if customer.id == self.customers[0].id else rng.choice((0, 0, 0, 1, 2, 4))
            for product in rng.sample(enabled, wanted):
                self.insert(
                    "wishlist",
                    {
                        "customer_id": customer.id,
                        "product_id": product.id,
                        "added_at": _ts(_between(rng, ORDERS_FROM, ORDERS_TO)),
                    },
                )
            if customer.id != self.customers[0].id and rng.random() < 0.25:
                self.insert(
                    "newsletter",
                    {
                        "email": customer.email,
                        "created_at": _ts(_between(rng, ORDERS_FROM, ORDERS_TO)),
                    },
                )

    def add_meta(self, counts: dict[str, int]) -> None:
        rows = {
            "site": "shop",
            "site_version": SITE_VERSION,
            "seed": str(self.seed),
            "scale": repr(self.scale),
            "now": _ts(ORDERS_TO),
            **{k: str(v) for k, v in counts.items()},
        }
        self.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(rows.items()))


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def seed(out: Path, seed: int = 42, scale: float = 1.0, workers: int | None = None) -> SeedSummary:
    """Generate the shop's data dir at ``out`` (which must not exist or be empty).

    ``scale`` multiplies the product, customer, order and review counts (categories and
    the documented accounts stay). The dir is built beside ``out`` and renamed into place,
    so ``out`` either holds complete data or does not exist.
    """
    if not 0 < scale <= 10:
        raise ValueError(f"scale must be in (0, 10], got {scale}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not empty; refusing to overwrite it")
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.seeding-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        conn = db.create(work)
        builder = _Builder(conn, work, seed, scale)
        builder.add_categories()
        builder.add_products()
        builder.add_customers()
        item_rows = builder.add_orders()
        builder.add_reviews()
        builder.add_extras()
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "categories",
                "products",
                "product_images",
                "customers",
                "orders",
                "order_items",
                "reviews",
            )
        }
        builder.add_meta(counts)
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
        write_all(builder.shots, workers)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return SeedSummary(
        path=str(out),
        seed=seed,
        scale=scale,
        site_version=SITE_VERSION,
        categories=counts["categories"],
        products=counts["products"],
        images=counts["product_images"],
        customers=counts["customers"],
        orders=counts["orders"],
        order_items=item_rows,
        reviews=counts["reviews"],
        total_bytes=_dir_bytes(out),
        seconds=round(time.perf_counter() - started, 2),
    )
