"""Protection against cross-site request forgery: every state-changing request must carry the
form key of the session it acts for, as Magento's ``form_key`` does.

Another page on the same host (another port is the same *site*) gets the shop's
``SameSite=Lax`` cookies sent along with the forms it submits, so cookies prove nothing about
where a request came from. The key does: it is an HMAC keyed by the session cookie, which is
random, ``HttpOnly`` and never shown, so only the shop's own pages know the key. Pages put it
in a hidden ``form_key`` field of every form and in ``<meta name="form-key">`` for their
scripts, which send it as the ``X-Form-Key`` header.

Nothing is stored: the key follows from the cookie, so it changes when the session does (sign
in, sign out), survives restarts and snapshots, and the golden data stays as seeded. A visitor
without a session gets a random ``shop_form_key`` cookie to key the forms they may post
(signing in, the cart, reviews). Cookies are not isolated by port, so a page on another port
could overwrite that cookie with one whose key it knows; that only makes the browser act for
a visitor (or session) of the attacker's choosing, which overwriting the cart or session
cookie does anyway. It never gives the key of a session the attacker does not own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import Response

from webserv.sites.shop.security import new_token

FIELD = "form_key"
HEADER = "X-Form-Key"
VISITOR_COOKIE = "shop_form_key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

MISSING = (
    "Refused: this request has no form key, so it did not come from a page of this shop, "
    "and nothing was saved. Reload the page and try again."
)
WRONG = (
    "Refused: this request's form key is wrong or out of date (from another session or a page "
    "loaded before you signed in or out), and nothing was saved. Reload the page and try again."
)


def _derive(secret: str) -> str:
    return hmac.new(secret.encode(), FIELD.encode(), hashlib.sha256).hexdigest()[:32]


def _secret(request: Request, session_cookie: str) -> str | None:
    """What the key of ``request`` derives from: its session, else its visitor cookie."""
    return request.cookies.get(session_cookie) or request.cookies.get(VISITOR_COOKIE) or None


def form_key(request: Request, session_cookie: str) -> str:
    """The form key for the pages ``request`` renders; ``session_cookie`` names the cookie of
    the side (storefront or admin) it belongs to. A visitor without any cookie to key it gets
    one: pass the response to :func:`remember`."""
    secret = _secret(request, session_cookie)
    if secret is None:
        secret = getattr(request.state, "visitor_key", None) or new_token()
        request.state.visitor_key = secret
    return _derive(secret)


R = TypeVar("R", bound=Response)


def remember(request: Request, response: R) -> R:
    """Set the visitor cookie :func:`form_key` made for this request, if it made one."""
    secret = getattr(request.state, "visitor_key", None)
    if secret is not None:
        response.set_cookie(VISITOR_COOKIE, secret, httponly=True, samesite="lax")
    return response


def protect(session_cookie: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing (403) a state-changing request without the form key of its
    session; put it on every router of the side ``session_cookie`` signs in to."""

    async def require_form_key(request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        sent: object = request.headers.get(HEADER)
        if sent is None:
            # Parsed once per request: the route reads the same cached form.
            sent = (await request.form()).get(FIELD)
        if not isinstance(sent, str) or not sent:
            raise HTTPException(403, MISSING)
        secret = _secret(request, session_cookie)
        if secret is None or not hmac.compare_digest(sent.encode(), _derive(secret).encode()):
            raise HTTPException(403, WRONG)

    return require_form_key
