"""The shop's documented accounts, as WebArena documents its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    role: str
    login: str
    password: str
    login_path: str


CUSTOMER = Account(
    role="customer",
    login="emma.lopez@example.com",
    password="Password.123",
    login_path="/account/login",
)
ADMIN = Account(role="admin", login="admin", password="admin1234", login_path="/admin/login")
ACCOUNTS = (CUSTOMER, ADMIN)
