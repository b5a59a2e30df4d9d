"""What every admin page shares: rendering with the signed-in admin, flash messages, ids."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from webserv.sites.shop import csrf
from webserv.sites.shop.web import render

# Set for path /admin only (by the login): the storefront never sees it.
SESSION_COOKIE = "admin_session"

MAX_ID = 2**63 - 1  # SQLite's INTEGER range; larger ids would overflow the driver

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a database id")]

OrderStatus = Literal["pending", "processing", "shipped", "complete", "canceled", "refunded"]
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)
# Orders in these states brought no money in: they are left out of sales figures.
NOT_REVENUE = ("canceled", "refunded")
# SQL condition on an order aliased ``o``: it counts towards sales.
REVENUE_SQL = f"o.status NOT IN ({', '.join(repr(s) for s in NOT_REVENUE)})"

# Messages shown once after a redirect (`?msg=key`, `&n=count`): fixed texts, never echoed input.
FLASH: dict[str, str] = {
    "logged_out": "You have signed out.",
    "product_saved": "You saved the product.",
    "order_updated": "The order status was updated.",
    "order_canceled": "The order was canceled and its items were returned to stock.",
    "comment_added": "Your comment was added to the order history.",
    "reviews_approve": "{n} review(s) approved.",
    "reviews_reject": "{n} review(s) rejected.",
    "reviews_delete": "{n} review(s) deleted.",
}


def flash_message(request: Request) -> str | None:
    text = FLASH.get(request.query_params.get("msg", ""))
    if text and "{n}" in text:
        count = request.query_params.get("n", "")
        text = text.format(n=count if count.isdigit() and len(count) < 7 else "Some")
    return text


def render_admin(
    request: Request, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``templates/admin/<name>`` with the signed-in admin, any flash message and the
    session's form key."""
    response = render(
        request,
        f"admin/{name}",
        status_code=status_code,
        admin=getattr(request.state, "admin", None),
        flash=flash_message(request),
        form_key=csrf.form_key(request, SESSION_COOKIE),
        **context,
    )
    return csrf.remember(request, response)


def not_found(kind: str, ident: object) -> HTTPException:
    return HTTPException(404, f"{kind} {ident} does not exist.")
