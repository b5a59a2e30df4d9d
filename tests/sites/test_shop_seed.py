"""The shop's data generator: counts, accounts, determinism, images, the CLI."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from webserv.sites.shop import SITE_VERSION, accounts
from webserv.sites.shop.security import verify_password
from webserv.sites.shop.seed import seed


def dump(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "shop.db") as conn:
        return list(conn.iterdump())


def media_digest(data_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((data_dir / "media").rglob("*.png"))
    }


def test_golden_has_documented_accounts_and_consistent_rows(shop_golden: Path) -> None:
    conn = sqlite3.connect(shop_golden / "shop.db")
    conn.row_factory = sqlite3.Row
    emma = conn.execute(
        "SELECT * FROM customers WHERE email = ?", (accounts.CUSTOMER.login,)
    ).fetchone()
    assert verify_password(accounts.CUSTOMER.password, emma["password_hash"])
    assert emma["street"] and emma["city"] == "Austin"
    assert (
        conn.execute("SELECT count(*) FROM orders WHERE customer_id = ?", (emma["id"],)).fetchone()[
            0
        ]
        >= 3
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM wishlist WHERE customer_id = ?", (emma["id"],)
        ).fetchone()[0]
        == 3
    )
    admin = conn.execute(
        "SELECT * FROM admins WHERE username = ?", (accounts.ADMIN.login,)
    ).fetchone()
    assert verify_password(accounts.ADMIN.password, admin["password_hash"])
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta["seed"] == "42" and meta["site_version"] == SITE_VERSION
    # every order's total adds up and it has items and a history ending in its status
    for order in conn.execute("SELECT * FROM orders"):
        items = conn.execute(
            "SELECT sum(price_cents * qty) FROM order_items WHERE order_id = ?", (order["id"],)
        ).fetchone()[0]
        assert items == order["subtotal_cents"]
        assert order["total_cents"] == order["subtotal_cents"] + order["shipping_cents"]
        last = conn.execute(
            "SELECT status FROM order_history WHERE order_id = ? ORDER BY id DESC LIMIT 1",
            (order["id"],),
        ).fetchone()[0]
        assert last == order["status"]
    stale = conn.execute(
        """SELECT count(*) FROM products p WHERE rating_count !=
           (SELECT count(*) FROM reviews r WHERE r.product_id = p.id AND r.status = 'approved')"""
    ).fetchone()[0]
    assert stale == 0
    statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM reviews")}
    assert "approved" in statuses
    # every leaf category has products and every image row points at a real PNG
    empty = conn.execute(
        """SELECT count(*) FROM categories c WHERE parent_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM products p WHERE p.category_id = c.id)"""
    ).fetchone()[0]
    assert empty == 0
    paths = [r[0] for r in conn.execute("SELECT path FROM product_images")]
    assert len(paths) == 2 * conn.execute("SELECT count(*) FROM products").fetchone()[0]
    with Image.open(shop_golden / paths[0]) as img:
        assert img.format == "PNG" and img.size == (480, 480)
    assert all((shop_golden / p).stat().st_size > 20_000 for p in paths)


def test_same_seed_same_bytes_other_seed_differs(shop_golden: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    seed(again, seed=42, scale=0.02)
    assert (again / "shop.db").read_bytes() == (shop_golden / "shop.db").read_bytes()
    assert media_digest(again) == media_digest(shop_golden)
    other = tmp_path / "other"
    seed(other, seed=7, scale=0.02)
    assert dump(other) != dump(shop_golden)
    assert media_digest(other) != media_digest(shop_golden)


def test_refuses_to_overwrite(shop_golden: Path, tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        seed(shop_golden, seed=1, scale=0.02)
    with pytest.raises(ValueError):
        seed(tmp_path / "x", scale=0)


def test_cli_seed_refuses_non_empty_dir_with_clear_message(tmp_path: Path) -> None:
    from webserv.sites.cli import app

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    result = CliRunner().invoke(app, ["seed", "shop", "--out", str(tmp_path / "taken")])
    assert result.exit_code == 2
    assert "not empty" in result.output


@pytest.mark.slow
def test_full_scale_counts_and_size(tmp_path: Path) -> None:
    summary = seed(tmp_path / "full", seed=42, scale=1.0)
    assert summary.products >= 2000 and summary.categories >= 20
    assert summary.customers >= 300 and summary.orders == 3000 and summary.reviews == 5000
    assert summary.images == 2 * summary.products
    assert summary.total_bytes >= 100 * 10**6
    conn = sqlite3.connect(tmp_path / "full" / "shop.db")
    first, last = conn.execute("SELECT min(created_at), max(created_at) FROM orders").fetchone()
    assert first < "2024-02-01" and last > "2025-12-01"
