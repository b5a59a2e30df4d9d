"""Who may see ``/ui`` when the server has a token.

API clients send ``Authorization: Bearer <token>``, which a browser cannot add to a page
it navigates to. So a person signs in once on ``/ui/login`` with the token, and gets a
cookie that opens ``/ui`` (and nothing else: not ``/v1``, not ``/metrics``):

- its value is an HMAC of a fixed text under the token, not the token: a cookie that leaks
  (another program on the host, a browser profile) opens the read-only pages alone, and
  the token cannot be read back from it; a new token ends every session;
- ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page makes the
  browser send it), ``Path=/ui``; named after the server's port, as browsers share cookies
  between the ports of one host;
- it lasts as long as the browser session (``/ui/logout`` ends it earlier).

The pages of ``/ui/static`` (style, scripts) and ``/ui/login`` itself are open.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

from starlette.types import Scope

UI_PREFIX = "/ui"
LOGIN_PATH = f"{UI_PREFIX}/login"
_OPEN_PREFIX = f"{UI_PREFIX}/static/"
_SESSION_TEXT = b"webserv ui session v1"


def is_ui(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(f"{UI_PREFIX}/")


def ui_needs_token(path: str) -> bool:
    """Whether ``path`` is a page of ``/ui`` behind the token (all but login and static)."""
    return is_ui(path) and path != LOGIN_PATH and not path.startswith(_OPEN_PREFIX)


def cookie_name(scope: Scope) -> str:
    """The session cookie of the server that received ``scope``: one per port."""
    server = scope.get("server")
    return f"webserv_ui_{server[1]}" if server and server[1] else "webserv_ui"


def session_value(token: bytes) -> str:
    return hmac.new(token, _SESSION_TEXT, hashlib.sha256).hexdigest()


def has_session(scope: Scope, token: bytes) -> bool:
    """Whether a request for ``/ui`` carries the session cookie of ``token``."""
    if not is_ui(scope["path"]):
        return False
    name, expected = cookie_name(scope), session_value(token)
    for header, value in scope["headers"]:
        if header != b"cookie":
            continue
        try:
            jar = SimpleCookie(value.decode("latin-1"))
        except CookieError:
            continue
        if name in jar and hmac.compare_digest(jar[name].value, expected):
            return True
    return False


def set_session(scope: Scope, token: bytes) -> str:
    """The ``Set-Cookie`` value that signs a browser in."""
    return (
        f"{cookie_name(scope)}={session_value(token)}; Path={UI_PREFIX}; HttpOnly; SameSite=Strict"
    )


def end_session(scope: Scope) -> str:
    """The ``Set-Cookie`` value that signs a browser out."""
    return f"{cookie_name(scope)}=; Path={UI_PREFIX}; Max-Age=0; HttpOnly; SameSite=Strict"


def wants_page(scope: Scope) -> bool:
    """Whether a refused request is a person's view of a page of ``/ui`` (sent to the login
    page) rather than a script's call (answered 401)."""
    path = scope["path"]
    return (
        is_ui(path)
        and scope["method"] in ("GET", "HEAD")
        and not path.startswith(f"{UI_PREFIX}/api/")
    )


def login_url(scope: Scope) -> str:
    """The login page, coming back to the requested page once signed in."""
    query = scope.get("query_string", b"").decode("latin-1")
    wanted = scope["path"] + (f"?{query}" if query else "")
    return f"{LOGIN_PATH}?next={quote(wanted, safe='')}"


def safe_next(wanted: str) -> str:
    """Where to go after signing in: a page of ``/ui``, never another site."""
    if is_ui(wanted.split("?", 1)[0]) and "//" not in wanted and "\\" not in wanted:
        return wanted
    return f"{UI_PREFIX}/"
