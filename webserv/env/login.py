"""Logging in without the browser: one HTTP form post per instance and role.

The sites keep sessions server-side (the shop in its ``sessions`` table), so posting the
login form once gives a session cookie that is then put into the browser context before
the first page loads. The agent starts logged in and never sees the login form.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import httpx

from webserv.pool.spec import Login


class LoginError(RuntimeError):
    """The site refused the documented account or answered unexpectedly."""


def _cookies(headers: list[str], host: str) -> list[dict[str, Any]]:
    """Playwright cookie dicts from ``Set-Cookie`` headers, scoped to ``host``."""
    cookies = []
    for header in headers:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            if morsel["max-age"] in ("0", "-1"):
                continue  # a deletion, not a session
            cookies.append(
                {
                    "name": name,
                    "value": morsel.value,
                    "domain": host,
                    "path": morsel["path"] or "/",
                    "httpOnly": bool(morsel["httponly"]),
                    "secure": False,
                    "sameSite": "Lax",
                }
            )
    return cookies


async def login_cookies(
    client: httpx.AsyncClient, instance_url: str, login: Login
) -> list[dict[str, Any]]:
    """Post ``login``'s form on the instance and return the session cookies it sets."""
    url = instance_url.rstrip("/") + login.login_path
    # The storefront's form names its field "email", the admin's "username": send both.
    form = {"username": login.username, "email": login.username, "password": login.password}
    try:
        response = await client.post(url, data=form, follow_redirects=False)
    except httpx.HTTPError as err:
        raise LoginError(f"login as {login.role} at {url} failed: {err}") from err
    cookies = _cookies(response.headers.get_list("set-cookie"), urlsplit(url).hostname or "")
    if response.status_code >= 400 or not cookies:
        raise LoginError(
            f"login as {login.role} ({login.username}) at {url} was refused: "
            f"HTTP {response.status_code}, no session cookie"
        )
    return cookies
