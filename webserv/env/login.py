"""Logging in without the browser: one HTTP form post per instance and role, or the
cookies or headers a site documents.

Sites keep sessions server-side (the shop in its ``sessions`` table), so posting the login
form once gives a session cookie that is then put into the browser context before the first
page loads. The agent starts logged in and never sees the login form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from webserv.sites.spec import Login

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

    from webserv.browser.session import BrowserSession


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


@dataclass
class Credentials:
    """What logs a browser context in: session cookies and request headers."""

    cookies: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def merge(cls, parts: Iterable[Credentials]) -> Credentials:
        merged = cls()
        for part in parts:
            merged.cookies += part.cookies
            merged.headers.update(part.headers)
        return merged

    async def apply(self, target: BrowserSession | BrowserContext) -> None:
        """Log ``target`` in (a browser session keeps them across browser crashes)."""
        if self.cookies:
            await target.add_cookies(self.cookies)  # type: ignore[arg-type]
        if self.headers:
            await target.set_extra_http_headers(self.headers)


async def log_in(client: httpx.AsyncClient, instance_url: str, login: Login) -> Credentials:
    """The credentials of ``login`` on the instance: a form posted once over HTTP (its
    session cookies), or the cookies or headers the site documents."""
    host = urlsplit(instance_url).hostname or ""
    if login.method == "cookie":
        return Credentials(
            cookies=_cookies([f"{k}={v}; Path=/" for k, v in login.cookies.items()], host)
        )
    if login.method == "header":
        return Credentials(headers=dict(login.headers))
    url = instance_url.rstrip("/") + login.login_path
    try:
        response = await client.post(url, data=login.form_data(), follow_redirects=False)
    except httpx.HTTPError as err:
        raise LoginError(f"login as {login.role} at {url} failed: {err}") from err
    cookies = _cookies(response.headers.get_list("set-cookie"), host)
    if response.status_code >= 400 or not cookies:
        raise LoginError(
            f"login as {login.role} ({login.username}) at {url} was refused: "
            f"HTTP {response.status_code}, no session cookie"
        )
    return Credentials(cookies=cookies)
