"""SQLite access for the shop. All mutable state is ``<data_dir>/shop.db`` plus ``media/``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request

DB_NAME = "shop.db"
SCHEMA = Path(__file__).with_name("schema.sql")


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open the shop database of ``data_dir`` (rows as ``sqlite3.Row``, foreign keys on)."""
    path = db_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(f"no shop database at {path}; run `webserv site seed shop` first")
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def create(data_dir: Path) -> sqlite3.Connection:
    """Create an empty database with the schema (for the seeder and for tests)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = db_path(data_dir)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA.read_text())
    return conn


def now() -> str:
    """The current time as stored in the database."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    """FastAPI dependency: one connection per request, committed on success.

    Declare it with ``scope="function"`` so the commit happens before the response is sent:
    a client following a redirect must see what the request wrote (a new session, an order).
    """
    conn = connect(request.app.state.data_dir)
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
