"""Logging in without the browser: one HTTP form post per instance and role, or the
cookies or headers a site documents.

Sites keep sessions server-side (the shop in its ``sessions`` table), so posting the login
form once gives a session cookie that is then put into the browser context before the first
page loads. The agent starts logged in and never sees the login form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
import lxml.etree
import lxml.html

from webserv.sites.spec import Login

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

    from webserv.browser.session import BrowserSession


class LoginError(RuntimeError):
    """The site refused the documented account or answered unexpectedly."""


def _cookies(headers: list[str], host: str) -> list[dict[str, Any]]:
    """Playwright cookie dicts from ``Set-Cookie`` headers, scoped to ``host``: the last
    header of a name wins, and one that deletes the cookie removes it."""
    cookies: dict[tuple[str, str], dict[str, Any]] = {}
    for header in headers:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            key = (name, morsel["path"] or "/")
            if morsel["max-age"] in ("0", "-1"):
                cookies.pop(key, None)  # a deletion, not a session
                continue
            cookies[key] = {
                "name": name,
                "value": morsel.value,
                "domain": host,
                "path": key[1],
                "httpOnly": bool(morsel["httponly"]),
                "secure": False,
                "sameSite": "Lax",
            }
    return list(cookies.values())


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
            await target.add_cookies(self.cookies)  # type: ignore[arg-type]  # cookie dicts as Playwright read them
        if self.headers:
            await target.set_extra_http_headers(self.headers)


def session_client(
    timeout_s: float = 30.0, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An HTTP client that keeps no cookies: logins to many instances on one host (ports do
    not scope cookies) must never see each other's sessions.

    Nor does it keep connections open: instances come and go on reused ports and close idle
    connections on their own clock (uvicorn after 5 s), so a pooled connection can be closed
    by the server just as a request goes out on it ("Server disconnected without sending a
    response"); a fresh connection on the loopback costs well under a millisecond.
    """
    return httpx.AsyncClient(
        timeout=timeout_s,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_keepalive_connections=0),
        transport=transport,
    )


def _login_form(page: str, page_url: str) -> tuple[dict[str, str], str | None]:
    """The hidden fields (CSRF tokens such as Magento's ``form_key`` or GitLab's
    ``authenticity_token``) and the action URL of the page's form with a password field."""
    try:
        tree = lxml.html.fromstring(page)
    except (lxml.etree.ParserError, ValueError):
        return {}, None
    for form in tree.iter("form"):
        if not form.xpath(".//input[@type='password']"):
            continue
        hidden = {
            field.get("name"): field.get("value", "")
            for field in form.xpath(".//input[@type='hidden'][@name]")
        }
        action = form.get("action")
        return hidden, urljoin(page_url, action) if action else page_url
    return {}, None


def _jar(headers: list[str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in headers:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def log_in(client: httpx.AsyncClient, instance_url: str, login: Login) -> Credentials:
    """The credentials of ``login`` on the instance: its form submitted once over HTTP (the
    session cookies it sets), or the cookies or headers the site documents.

    The login page is read first, so the form's hidden fields and the cookie they belong to
    go with the post, as a browser would send them; a site without a login page (a bare
    endpoint) gets the post alone. ``client`` must keep no cookies (:func:`session_client`).
    """
    host = urlsplit(instance_url).hostname or ""
    if login.method == "cookie":
        return Credentials(
            cookies=_cookies([f"{k}={v}; Path=/" for k, v in login.cookies.items()], host)
        )
    if login.method == "header":
        return Credentials(headers=dict(login.headers))
    url = instance_url.rstrip("/") + login.login_path
    fields, action, set_cookies = login.form_data(), url, []
    try:
        page = await client.get(url, follow_redirects=False)
        if page.status_code < 400:
            hidden, found = _login_form(page.text, url)
            fields, action = {**hidden, **fields}, found or url
            set_cookies = page.headers.get_list("set-cookie")
        cookie = "; ".join(f"{k}={v}" for k, v in _jar(set_cookies).items())
        response = await client.post(
            action,
            data=fields,
            headers={"Cookie": cookie} if cookie else None,
            follow_redirects=False,
        )
    except httpx.HTTPError as err:
        raise LoginError(f"login as {login.role} at {url} failed: {err}") from err
    answered = response.headers.get_list("set-cookie")
    # A site that answers a wrong password with its login form again (Redmine: 200, the
    # form and a fresh anonymous session cookie) refused the login as surely as a 4xx.
    form_again = response.status_code == 200 and _login_form(response.text, action)[1]
    if response.status_code >= 400 or not answered or form_again:
        why = "the login form came back" if form_again else "no session cookie"
        raise LoginError(
            f"login as {login.role} ({login.username}) at {url} was refused: "
            f"HTTP {response.status_code}, {why}"
        )
    # The login's own cookies override those of the page (a session id renewed at login).
    return Credentials(cookies=_cookies([*set_cookies, *answered], host))
